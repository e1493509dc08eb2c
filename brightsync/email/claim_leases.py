"""Leases and timing of email claims: who works on an open claim now, and when a claim that
nobody works on (a lapsed lease, a wait for the sender's copy that is over) goes back to work.

Every change the writer makes to a claim is fenced on the lease it took here (`held`). Work
means an open claim, or a logged one whose attachment files are still to be delivered
(`files_missing`, see email/attach.py): that retry is leased and swept the same way.

Claims leased to a task that is queued but not started (a hand-out, a sweep, a deferred retry)
carry a *handed* token ("q:…"); the task swaps it for a working one when it starts
(`take_handed`). So when the broker lost its queued tasks, the claims whose task is gone are
known without waiting for their leases to lapse (`rehand_lost`), and a duplicate of a task
that already started finds nothing left under its token.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from brightsync.email.claims import OPEN_STATES, WAITING
from brightsync.models import EmailClaim, utcnow
from brightsync.sync import leases

LOGGED = "logged"


def workable() -> ColumnElement[bool]:
    """Claims that still need work from their owner (SQL)."""
    return or_(
        EmailClaim.state.in_(OPEN_STATES),
        and_(EmailClaim.state == LOGGED, EmailClaim.files_missing.is_not(None)),
    )


def needs_work(c: EmailClaim) -> bool:
    """The same for a loaded claim."""
    return c.state in OPEN_STATES or (c.state == LOGGED and c.files_missing is not None)


HANDED = "q:"


def handed_owner() -> str:
    """A lease token for a task about to be published (not yet working)."""
    return HANDED + leases.new_owner()


def is_handed(owner: str | None) -> bool:
    return bool(owner) and owner.startswith(HANDED)  # type: ignore[union-attr]


def take_handed(session: Session, owner: str, now: datetime | None = None) -> str:
    """A task starts on the claims handed to it under `owner`: they move to a fresh working
    token (a fresh lease); that token. Once moved, a duplicate of the task (or a republish
    after a loss) finds nothing under `owner`."""
    working = leases.new_owner()
    session.execute(
        update(EmailClaim)
        .where(EmailClaim.lease_owner == owner, workable())
        .values(lease_owner=working, lease_until=leases.expiry(now))
        .execution_options(synchronize_session=False)
    )
    return working


def rehand_lost(
    session: Session, ids: list[int], owner: str, now: datetime | None = None
) -> list[int]:
    """The broker lost its queued tasks: those of `ids` still handed to a task that never
    started, and due within a lease, are leased to `owner` (a task about to be published)
    whatever their lease says; their ids. A retry deferred further keeps its time."""
    now = now or utcnow()
    result = session.execute(
        update(EmailClaim)
        .where(
            EmailClaim.id.in_(ids),
            workable(),
            EmailClaim.lease_owner.startswith(HANDED),
            EmailClaim.lease_until <= leases.expiry(now),
        )
        .values(lease_owner=owner, lease_until=leases.expiry(now))
        .returning(EmailClaim.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


def handed_claims(session: Session, limit: int = 20000) -> list[int]:
    """Open claims handed to a task that has not started (for `rehand_lost`)."""
    return list(
        session.scalars(
            select(EmailClaim.id)
            .where(workable(), EmailClaim.lease_owner.startswith(HANDED))
            .order_by(EmailClaim.id)
            .limit(limit)
        )
    )


def end_waits(session: Session, claim_ids: Iterable[int], now: datetime | None = None) -> int:
    """Claims whose wait for the sender's copy is over go to work on what is known."""
    ids = list(claim_ids)
    if not ids:
        return 0
    return session.execute(
        update(EmailClaim)
        .where(
            EmailClaim.id.in_(ids),
            EmailClaim.state == WAITING,
            EmailClaim.wait_until <= (now or utcnow()),
        )
        .values(state="claimed", wait_until=None, lease_until=None)
    ).rowcount


def due_waits(session: Session, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Waiting claims whose grace period is over (for the sweeper)."""
    return list(
        session.scalars(
            select(EmailClaim.id)
            .where(EmailClaim.state == WAITING, EmailClaim.wait_until <= (now or utcnow()))
            .limit(limit)
        )
    )


def pass_lease(
    session: Session,
    claim_ids: list[int],
    owner: str,
    to_owner: str,
    now: datetime | None = None,
) -> list[int]:
    """Hand the open claims `owner` holds among `claim_ids` to `to_owner` (the task about to
    be published) for a fresh lease; their ids. Fenced: a claim `owner` lost stays where it
    is. Should the task be lost, the lease lapses and the sweeper republishes the claims."""
    if not claim_ids:
        return []
    now = now or utcnow()
    result = session.execute(
        update(EmailClaim)
        .where(
            EmailClaim.id.in_(claim_ids),
            EmailClaim.lease_owner == owner,
            EmailClaim.state.in_(OPEN_STATES),
        )
        .values(lease_owner=to_owner, lease_until=leases.expiry(now))
        .returning(EmailClaim.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


def take_for_work(session: Session, claim_id: int, owner: str, now: datetime | None = None) -> bool:
    """Lease an open claim to `owner` for one attempt (re-entrant for the same owner); False
    when another worker holds a live lease on it or it needs no more work."""
    return leases.acquire(session, EmailClaim, claim_id, owner, workable(), now=now)


def held(session: Session, claim_id: int, owner: str) -> EmailClaim:
    """The claim, locked for this transaction, if `owner` still holds it open; else LeaseLost.

    Every change the writer makes to a claim goes through this, so a worker whose lease lapsed
    (and whose claim another worker took) never overwrites the newer owner's outcome.
    """
    c = session.get(EmailClaim, claim_id, with_for_update=True, populate_existing=True)
    if c is None or c.lease_owner != owner or not needs_work(c):
        raise leases.LeaseLost(f"email claim {claim_id} is no longer held by this worker")
    return c


def due_for_sweep(
    session: Session, owner: str, limit: int = 500, now: datetime | None = None
) -> list[int]:
    """Open claims nobody is working on (lease lapsed, or never leased and old): lease them to
    `owner` (the task about to be published) and return their ids.

    Indexed on (state, lease_until): the cost follows the open claims, not the table. Leasing
    them here means a second sweep does not republish them while that task is queued; if it
    is lost, its lease lapses and a later sweep tries again.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=leases.lease_seconds() / 2)
    ids = list(
        session.scalars(
            select(EmailClaim.id)
            .where(
                (
                    EmailClaim.state.in_(OPEN_STATES)
                    & (
                        leases.lapsed(EmailClaim, now)
                        | (EmailClaim.lease_until.is_(None) & (EmailClaim.claimed_at < cutoff))
                    )
                )
                # a file retry always holds a lease: only a lapsed one is due (by index)
                | (
                    (EmailClaim.state == LOGGED)
                    & leases.lapsed(EmailClaim, now)
                    & EmailClaim.files_missing.is_not(None)
                )
            )
            .order_by(EmailClaim.id)
            .limit(limit)
        )
    )
    return [i for i in ids if take_for_work(session, i, owner, now=now)]
