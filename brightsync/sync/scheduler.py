"""Coalescing of sync requests: per (user, service) one run at a time and at most one queued.

Two conditional UPDATEs on sync_state carry the whole protocol, so it holds across any number
of web and worker processes on any number of machines:

- request: set `pending_since` where it is NULL (or stale). Only the caller that flipped it
  publishes a task; everyone else is coalesced into that queued task.
- start: a task takes the run lease where no live lease exists, clearing `pending_since` at
  the same moment, so a notification arriving during the run queues exactly one follow-up.
  A task that finds the lease held re-queues itself with a countdown (it stays "the queued one").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import SyncState, utcnow

# A queued task older than this is presumed lost (e.g. a broker flushed by hand) and replaced.
PENDING_STALE_AFTER = timedelta(minutes=15)
# A crashed run's lease expires after this; long syncs renew it as they go.
LEASE_SECONDS = 600


@dataclass(frozen=True)
class RequestOutcome:
    publish: bool  # the caller must publish one sync task
    state_id: int


def ensure_state(session: Session, user_id: int, service: str) -> SyncState:
    state = session.scalar(
        select(SyncState).where(SyncState.user_id == user_id, SyncState.service == service)
    )
    if state is not None:
        return state
    try:
        with session.begin_nested():
            state = SyncState(user_id=user_id, service=service, counters={})
            session.add(state)
        return state
    except IntegrityError:
        # Another process created it between our SELECT and INSERT.
        return session.scalars(
            select(SyncState).where(SyncState.user_id == user_id, SyncState.service == service)
        ).one()


def request_run(session: Session, user_id: int, service: str, now: datetime | None = None) -> bool:
    """Mark a run as wanted; True when this caller must publish the task (after commit)."""
    now = now or utcnow()
    state = ensure_state(session, user_id, service)
    result = session.execute(
        update(SyncState)
        .where(
            SyncState.id == state.id,
            or_(
                SyncState.pending_since.is_(None),
                SyncState.pending_since < now - PENDING_STALE_AFTER,
            ),
        )
        .values(pending_since=now, state="queued")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def cancel_request(user_id: int, service: str) -> None:
    """Undo request_run when the publish failed, so the next notification publishes again."""
    with session_scope() as s:
        s.execute(
            update(SyncState)
            .where(SyncState.user_id == user_id, SyncState.service == service)
            .values(pending_since=None)
        )


def clear_pending(state_id: int) -> None:
    """Drop a queued run that will not happen (e.g. the mailbox needs re-authorisation)."""
    with session_scope() as s:
        s.execute(
            update(SyncState)
            .where(SyncState.id == state_id)
            .values(pending_since=None, state="idle")
        )


def try_start(state_id: int, now: datetime | None = None) -> str | None:
    """Take the run lease; return its token, or None when another run holds it."""
    now = now or utcnow()
    token = uuid.uuid4().hex
    with session_scope() as s:
        result = s.execute(
            update(SyncState)
            .where(
                SyncState.id == state_id,
                or_(SyncState.lease_until.is_(None), SyncState.lease_until < now),
            )
            .values(
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                lease_owner=token,
                pending_since=None,
                state="running",
            )
        )
    return token if result.rowcount == 1 else None


def renew(state_id: int, token: str, progress: dict[str, int] | None = None) -> bool:
    values: dict[str, object] = {"lease_until": utcnow() + timedelta(seconds=LEASE_SECONDS)}
    if progress is not None:
        values["progress"] = dict(progress)
    with session_scope() as s:
        result = s.execute(
            update(SyncState)
            .where(SyncState.id == state_id, SyncState.lease_owner == token)
            .values(**values)
        )
    return result.rowcount == 1


def finish(
    state_id: int,
    token: str,
    *,
    error: str | None = None,
    counters: dict[str, int] | None = None,
) -> None:
    """Release the lease and record the outcome (counters are added to the totals)."""
    now = utcnow()
    with session_scope() as s:
        state = s.get(SyncState, state_id)
        if state is None or state.lease_owner != token:
            return
        totals = dict(state.counters or {})
        for key, value in (counters or {}).items():
            totals[key] = int(totals.get(key, 0)) + int(value)
        state.counters = totals
        state.runs += 1
        state.lease_until = None
        state.lease_owner = None
        state.progress = None
        if error is None:
            state.last_sync_at = now
            state.state = "queued" if state.pending_since is not None else "idle"
        else:
            state.last_error = error[:2000]
            state.last_error_at = now
            state.state = "error"


def request_and_publish(user_id: int, service: str, publish: Callable[[int, str], None]) -> bool:
    """request_run + publish after commit, undoing the request if the broker refuses.

    Returns True when a task was published, False when coalesced into a queued one.
    Raises whatever `publish` raised (the caller answers 503 so the sender retries).
    """
    with session_scope() as s:
        must_publish = request_run(s, user_id, service)
    if not must_publish:
        return False
    try:
        publish(user_id, service)
    except Exception:
        cancel_request(user_id, service)
        raise
    return True
