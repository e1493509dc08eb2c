"""Rebuilding from the database what Redis lost (brightsync.generation notices the loss).

What vanished with Redis and how it comes back:
- kombu's queue bindings (Redis broker): declared again first, else every task published to a
  queue's exchange is dropped without a word until a worker reconnects;
- buffered webhook notifications and queued run tasks: every active (user, service) gets a
  run now (sync.sweeps.rebuild_runs; delta tokens are durable, so a run reads only what
  changed since its last checkpoint);
- queued claim tasks: claims handed to a task that never started are republished now, not
  when their lease lapses (email.claim_leases.rehand_lost);
- locks, rate budgets and caches: nothing to do, they are rebuilt as they are used.

A top module, like domains.py: it is handed the services and imports no task module.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from brightsync import generation
from brightsync.celery import declare_queues
from brightsync.config import get_settings
from brightsync.db import session_scope
from brightsync.email import claim_leases
from brightsync.email.queue import publish_claims
from brightsync.sync import sweeps

log = logging.getLogger(__name__)


def rebuild(services: Collection[str]) -> dict[str, int]:
    """Rebuild after a loss this caller claimed; on failure the loss is handed back to the
    next check (generation.forget) and the error raised."""
    try:
        declare_queues()
        runs = sweeps.rebuild_runs(services)
        claims = republish_handed_claims()
    except Exception:
        generation.forget()
        raise
    log.warning("rebuilt after a Redis data loss: %d run(s), %d claim(s)", runs, claims)
    return {"runs": runs, "claims": claims}


def republish_handed_claims() -> int:
    """Claims whose queued task was lost go out again now, in parts of BRIGHTSYNC_EMAIL_CHUNK."""
    with session_scope() as s:
        ids = claim_leases.handed_claims(s)
    chunk = max(1, get_settings().email_chunk)
    done = 0
    for start in range(0, len(ids), chunk):
        owner = claim_leases.handed_owner()
        with session_scope() as s:
            part = claim_leases.rehand_lost(s, ids[start : start + chunk], owner)
        if part:
            publish_claims(part, owner)
            done += len(part)
    return done


def check_and_rebuild(services: Collection[str]) -> dict[str, int] | None:
    """The sweeper's check: rebuild if Redis lost its data since the last check."""
    if not generation.check():
        return None
    return rebuild(services)
