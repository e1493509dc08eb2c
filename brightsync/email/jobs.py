"""Celery tasks of the email domain: finish claims later (retries, hand-overs, the cache)."""

from __future__ import annotations

import logging
from typing import Any

from brightsync.celery import app
from brightsync.coordination import singleton, sweep_lock_ttl
from brightsync.db import OUTAGE_ERRORS, outage_countdown, session_scope
from brightsync.email import claim_leases
from brightsync.email.finish import finish_claims, working_owner
from brightsync.email.queue import publish_claims

log = logging.getLogger(__name__)


@app.task(name="brightsync.email.process_claims", acks_late=True, bind=True)
def process_claims(self: Any, claim_ids: list[int], owner: str | None = None) -> dict[str, int]:
    owner = working_owner(owner)
    try:
        return finish_claims(claim_ids, owner)
    except OUTAGE_ERRORS as exc:
        # The database went away: the retry goes on under this task's working lease (claims
        # already logged are done; the rest resume, fenced as ever).
        raise self.retry(
            args=[claim_ids, owner], countdown=outage_countdown(self.request.retries), exc=exc
        ) from exc


@app.task(name="brightsync.maintenance.sweep_email_claims")
def sweep_claims() -> int:
    """Claims left open with a lapsed lease (a worker died mid-way, a lost task): finish them.

    Every BRIGHTSYNC_SWEEP_SECONDS (30); republishing is idempotent (claims are leased to the
    published task, and every outcome is fenced on that lease).
    """
    with singleton("sweep-email-claims", sweep_lock_ttl()) as mine:
        if not mine:
            return 0
        owner = claim_leases.handed_owner()
        with session_scope() as s:
            ids = claim_leases.due_for_sweep(s, owner)
            # Waits for the sender's copy that are over: idempotent, as every claim is.
            ids += claim_leases.due_waits(s)
        if ids:
            publish_claims(ids, owner)
            log.info("republished %d open email claim(s)", len(ids))
        return len(ids)
