"""Celery tasks of the email domain: finish claims later (retries, hand-overs, the cache)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from brightsync.celery import app
from brightsync.clients.aurinko import TokenDeadError
from brightsync.coordination import singleton
from brightsync.db import session_scope
from brightsync.email.claims import OPEN_STATES, due_waits, end_waits
from brightsync.email.context import load_context
from brightsync.email.writer import Work, process
from brightsync.models import EmailClaim, utcnow

log = logging.getLogger(__name__)


def finish_claims(claim_ids: list[int]) -> dict[str, int]:
    """Finish open claims, each in its current owner's context (owners change on hand-over)."""
    by_owner: dict[int, list[int]] = defaultdict(list)
    with session_scope() as s:
        end_waits(s, claim_ids)  # a wait for the sender's copy that is over: decide now
    with session_scope() as s:
        for c in s.scalars(select(EmailClaim).where(EmailClaim.id.in_(claim_ids))):
            if c.state in OPEN_STATES:
                by_owner[c.owner_user_id].append(c.id)
    totals: dict[str, int] = defaultdict(int)
    for owner, ids in by_owner.items():
        ctx = load_context(owner)
        try:
            process(ctx, [Work(claim_id=i) for i in ids])
        except TokenDeadError as exc:
            from brightsync.sync.jobs import mark_reauth

            mark_reauth(owner, str(exc))
        finally:
            ctx.close()
        for key, value in ctx.counters.items():
            totals[key] += value
    return dict(totals)


@app.task(name="brightsync.email.process_claims", acks_late=True)
def process_claims(claim_ids: list[int]) -> dict[str, int]:
    return finish_claims(claim_ids)


@app.task(name="brightsync.maintenance.sweep_email_claims")
def sweep_claims() -> int:
    """Claims left open with a lapsed lease (a worker died mid-way, a lost task): finish them."""
    with singleton("sweep-email-claims", 600) as mine:
        if not mine:
            return 0
        cutoff = utcnow() - timedelta(minutes=5)
        with session_scope() as s:
            ids = list(
                s.scalars(
                    select(EmailClaim.id)
                    .where(
                        EmailClaim.state.in_(OPEN_STATES),
                        (EmailClaim.lease_until.is_(None) & (EmailClaim.claimed_at < cutoff))
                        | (EmailClaim.lease_until < cutoff),
                    )
                    .limit(500)
                )
            )
            ids += due_waits(s)
        if ids:
            process_claims.delay(ids)
        return len(ids)
