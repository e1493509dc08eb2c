"""Coalescing of sync requests: per (user, service) one run at a time and at most one queued.

Conditional UPDATEs on sync_state carry the whole protocol, so it holds across any number of
web and worker processes on any number of machines:

- request: set `pending_since` where it is NULL (or stale). Only the caller that flipped it
  publishes a task; everyone else is coalesced into that queued task, except an operator's
  "sync now", which publishes anyway in case that task was lost.
- start: a task takes the run lease (brightsync.sync.leases: 60 s, renewed by a heartbeat,
  fenced by the owner token) where no live lease exists and a run is pending, clearing
  `pending_since` at the same moment, so a notification arriving during the run queues exactly
  one follow-up. A task that finds the lease held simply ends: it never waits or spins.
- finish: the run releases the lease and, if a follow-up is pending, publishes it at once
  (the hand-over), so the next run starts as soon as this one ends.
- sweep: a request pending for half a lease with no live lease lost its task (a killed
  worker, a flushed broker): the sweeper republishes it. Duplicates are harmless: the second
  task finds nothing pending or the lease busy and ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import SyncState, utcnow
from brightsync.sync import leases

# A queued task older than this is presumed lost and replaced by the next notification.
PENDING_STALE_AFTER = timedelta(minutes=5)


def republish_after() -> timedelta:
    """A request pending this long with no live lease lost its task (half a lease: 30 s)."""
    return timedelta(seconds=leases.lease_seconds() / 2)


# A countdown task may fire a moment before the due time its publisher computed.
DUE_SLACK = timedelta(seconds=2)


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


def request_run(
    session: Session,
    user_id: int,
    service: str,
    now: datetime | None = None,
    *,
    due: datetime | None = None,
) -> bool:
    """Mark a run as wanted; True when this caller must publish the task (after commit).

    `due` (a retry after a transient failure) marks it wanted from then on: the sweeper leaves
    it alone until then, and notifications meanwhile coalesce into it.
    """
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
        .values(pending_since=max(now, due or now), state=_queued_unless_running(SyncState.state))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _queued_unless_running(state: Any) -> Any:
    """A request made while a run is running leaves it shown as running (with its progress):
    the next run starts when this one ends (see finish)."""
    return case((state == "running", "running"), else_="queued")


@cache
def _request_upsert(dialect: str) -> Any:
    """The request as one upsert, built once per dialect (only its parameters change)."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = SyncState.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = bindparam("now")
    return (
        insert(table)
        .values(user_id=bindparam("user_id"), service=bindparam("service"), pending_since=now)
        .values(state="queued")
        .on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.service],
            set_={
                "pending_since": now,
                "state": _queued_unless_running(table.c.state),
                "updated_at": now,
            },
            where=or_(table.c.pending_since.is_(None), table.c.pending_since < bindparam("stale")),
        )
        .returning(table.c.id)
    )


def request_run_in(conn: Connection, user_id: int, service: str, now: datetime) -> bool:
    """request_run in one statement on a Core connection (the webhook's database path).

    The state row is created when missing, else marked pending where no run is (or only a
    stale one); RETURNING yields a row exactly when this caller flipped it, so exactly one
    concurrent caller publishes, as with request_run.
    """
    params = {
        "user_id": user_id,
        "service": service,
        "now": now,
        "stale": now - PENDING_STALE_AFTER,
    }
    return conn.execute(_request_upsert(conn.dialect.name), params).first() is not None


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


def drop_pending(session: Session, user_id: int, service: str) -> None:
    """A queued run of a service turned off will not happen; its cursors stay as they are."""
    session.execute(
        update(SyncState)
        .where(SyncState.user_id == user_id, SyncState.service == service)
        .values(pending_since=None)
    )
    session.execute(
        update(SyncState)
        .where(
            SyncState.user_id == user_id, SyncState.service == service, SyncState.state == "queued"
        )
        .values(state="idle")
    )


def stop_runs(session: Session, user_id: int, services: list[str]) -> None:
    """Turned off or leaving: no run starts, and a running one loses its lease, so its next
    fenced step (a checkpoint, a claim, a heartbeat) ends it. Cursors are left as they are."""
    session.execute(
        update(SyncState)
        .where(SyncState.user_id == user_id, SyncState.service.in_(services))
        .values(pending_since=None, lease_until=None, lease_owner=None, state="idle", progress=None)
        .execution_options(synchronize_session=False)
    )


def try_start(
    state_id: int,
    owner: str | None = None,
    *,
    requested_only: bool = False,
    now: datetime | None = None,
) -> str | None:
    """Take the run lease; return its fencing token, or None when another run holds it.

    `requested_only` (tasks): start only if a run is still pending, so a duplicate task that
    arrives after its twin ran finds nothing to do.
    """
    now = now or utcnow()
    owner = owner or leases.new_owner()
    # A retry marked due later is not started early by a duplicate task.
    where = [SyncState.pending_since <= now + DUE_SLACK] if requested_only else []
    with session_scope() as s:
        taken = leases.acquire(
            s,
            SyncState,
            state_id,
            owner,
            *where,
            now=now,
            pending_since=None,
            state="running",
        )
    return owner if taken else None


def renew(state_id: int, token: str, progress: dict[str, int] | None = None) -> None:
    """Keep the run lease; LeaseLost when another run took it over."""
    values: dict[str, object] = {} if progress is None else {"progress": dict(progress)}
    if leases.renew(SyncState, token, row_id=state_id, **values) != 1:
        raise leases.LeaseLost(f"sync_state {state_id}: the run lease was taken over")


def checkpoint(state_id: int, token: str, **values: object) -> None:
    """Store delta tokens / resume position, only while this run holds the lease."""
    with session_scope() as s:
        leases.fenced_update(s, SyncState, state_id, token, **values)


def finish(
    state_id: int,
    token: str,
    *,
    error: str | None = None,
    counters: dict[str, int] | None = None,
) -> bool:
    """Release the lease and record the outcome (counters are added to the totals).

    Returns True when a follow-up run is pending and due: the caller publishes it now (the
    hand-over). A run that lost its lease records nothing and returns False.
    """
    now = utcnow()
    with session_scope() as s:
        state = s.get(SyncState, state_id, with_for_update=True, populate_existing=True)
        if state is None or state.lease_owner != token:
            return False
        totals = dict(state.counters or {})
        for key, value in (counters or {}).items():
            totals[key] = int(totals.get(key, 0)) + int(value)
        state.counters = totals
        state.runs += 1
        state.lease_until = None
        state.lease_owner = None
        state.progress = None
        pending = state.pending_since
        if error is None:
            state.last_sync_at = now
            state.state = "queued" if pending is not None else "idle"
        else:
            state.last_error = error[:2000]
            state.last_error_at = now
            state.state = "error"
    return pending is not None and pending <= now


def due_for_republish(limit: int = 500, now: datetime | None = None) -> list[tuple[int, str]]:
    """Runs whose task is presumed lost; each is re-marked now so it is republished once.

    Two kinds: a request pending for half a lease with no live run (its task was lost), and a
    run whose lease lapsed (its worker died mid-run: the rest of its delta must still be read,
    whether or not anything new arrived). The dead run's lease is cleared, so should it come
    back to life it is fenced out. Indexed on pending_since and lease_until: the cost is the
    number of such rows, not the number of mailboxes.
    """
    now = now or utcnow()
    cutoff = now - republish_after()
    with session_scope() as s:
        rows = s.execute(
            select(
                SyncState.id,
                SyncState.user_id,
                SyncState.service,
                SyncState.pending_since,
                SyncState.lease_owner,
            )
            .where(
                or_(
                    and_(SyncState.pending_since < cutoff, leases.free(SyncState, now)),
                    leases.lapsed(SyncState, now),
                )
            )
            .order_by(SyncState.id)
            .limit(limit)
        ).all()
        due = []
        for row in rows:
            # Conditional on what we read: two sweepers never both republish one request.
            moved = s.execute(
                update(SyncState)
                .where(
                    SyncState.id == row.id,
                    SyncState.pending_since.is_not_distinct_from(row.pending_since),
                    SyncState.lease_owner.is_not_distinct_from(row.lease_owner),
                    leases.free(SyncState, now),
                )
                .values(pending_since=now, lease_owner=None, lease_until=None, state="queued")
                .execution_options(synchronize_session=False)
            ).rowcount
            if moved:
                due.append((row.user_id, row.service))
    return due


def request_everything(state_ids: list[int], now: datetime | None = None) -> list[tuple[int, str]]:
    """After Redis lost its data (queued tasks, buffered notifications): mark a run wanted on
    each of these services now, whatever was pending or due later; the (user, service) pairs
    whose lease is free, which the caller publishes. A running one hands over when it ends
    (its pending follow-up), so nothing is published for it."""
    now = now or utcnow()
    free: list[tuple[int, str]] = []
    for start in range(0, len(state_ids), 500):
        chunk = state_ids[start : start + 500]
        with session_scope() as s:
            rows = s.execute(
                update(SyncState)
                .where(SyncState.id.in_(chunk), leases.free(SyncState, now))
                .values(pending_since=now, state="queued", lease_owner=None, lease_until=None)
                .returning(SyncState.user_id, SyncState.service)
                .execution_options(synchronize_session=False)
            )
            free += [(row.user_id, row.service) for row in rows]
            s.execute(
                update(SyncState)
                .where(SyncState.id.in_(chunk), ~leases.free(SyncState, now))
                .values(pending_since=now)
                .execution_options(synchronize_session=False)
            )
    return sorted(free)


def request_and_publish(
    user_id: int,
    service: str,
    publish: Callable[[int, str], None],
    *,
    always: bool = False,
) -> bool:
    """request_run + publish after commit, undoing the request if the broker refuses.

    Returns True when a task was published, False when coalesced into a queued one.
    `always` (an operator's "sync now"): publish even when a run is already pending, whose task
    may be lost (a flushed broker), and bring a retry due later forward to now. The extra task
    is harmless: run tasks start only while a run is pending and the lease is free, so of two
    tasks for one request the second finds nothing to do.
    Raises whatever `publish` raised (the caller answers 503 so the sender retries).
    """
    now = utcnow()
    with session_scope() as s:
        flipped = request_run(s, user_id, service, now)
        if not flipped and always:
            s.execute(
                update(SyncState)
                .where(
                    SyncState.user_id == user_id,
                    SyncState.service == service,
                    SyncState.pending_since > now,
                )
                .values(pending_since=now)
                .execution_options(synchronize_session=False)
            )
    if not (flipped or always):
        return False
    try:
        publish(user_id, service)
    except Exception:
        if flipped:  # only our own request is undone; an earlier one stays for the sweeper
            cancel_request(user_id, service)
        raise
    return True
