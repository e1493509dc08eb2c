"""Celery tasks of the email domain: finish claims later (retries, hand-overs, the cache)."""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select

from brightsync.celery import app
from brightsync.clients.aurinko import TokenDeadError
from brightsync.coordination import singleton, sweep_lock_ttl
from brightsync.db import session_scope
from brightsync.email import claims
from brightsync.email.claims import OPEN_STATES, end_waits
from brightsync.email.context import load_context
from brightsync.email.writer import Work, process
from brightsync.models import EmailClaim
from brightsync.sync import leases

log = logging.getLogger(__name__)


def finish_claims(claim_ids: list[int], owner: str | None = None) -> dict[str, int]:
    """Finish open claims, each in its current owner's context (owners change on hand-over).

    `owner` is the lease token the publisher (the sweeper, a deferral) leased the claims to;
    a fresh one otherwise. A heartbeat keeps the claims' leases alive while this works.
    """
    owner = owner or leases.new_owner()
    by_owner: dict[int, list[int]] = defaultdict(list)
    with session_scope() as s:
        end_waits(s, claim_ids)  # a wait for the sender's copy that is over: decide now
    with session_scope() as s:
        for c in s.scalars(select(EmailClaim).where(EmailClaim.id.in_(claim_ids))):
            if c.state in OPEN_STATES:
                by_owner[c.owner_user_id].append(c.id)
    totals: dict[str, int] = defaultdict(int)
    heartbeat = leases.Heartbeat(
        [lambda: leases.renew(EmailClaim, owner, where=[EmailClaim.state.in_(OPEN_STATES)])],
        essential=False,
    )
    with heartbeat:
        for user_id, ids in by_owner.items():
            ctx = load_context(user_id)
            try:
                process(ctx, [Work(claim_id=i) for i in ids], owner)
            except TokenDeadError as exc:
                from brightsync.sync.run import mark_reauth

                mark_reauth(user_id, str(exc))
            finally:
                ctx.close()
            for key, value in ctx.counters.items():
                totals[key] += value
    return dict(totals)


@app.task(name="brightsync.email.process_claims", acks_late=True)
def process_claims(claim_ids: list[int], owner: str | None = None) -> dict[str, int]:
    return finish_claims(claim_ids, owner)


@app.task(name="brightsync.maintenance.sweep_email_claims")
def sweep_claims() -> int:
    """Claims left open with a lapsed lease (a worker died mid-way, a lost task): finish them.

    Every BRIGHTSYNC_SWEEP_SECONDS (30); republishing is idempotent (claims are leased to the
    published task, and every outcome is fenced on that lease).
    """
    with singleton("sweep-email-claims", sweep_lock_ttl()) as mine:
        if not mine:
            return 0
        owner = leases.new_owner()
        with session_scope() as s:
            ids = claims.due_for_sweep(s, owner)
            # Waits for the sender's copy that are over: idempotent, as every claim is.
            ids += claims.due_waits(s)
        if ids:
            process_claims.delay(ids, owner)
            log.info("republished %d open email claim(s)", len(ids))
        return len(ids)
