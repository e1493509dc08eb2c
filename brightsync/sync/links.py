"""The two-way status table: one `ObjectLink` row per pair of records, and the run's cursors.

The core (`sync.twoway`) works on `Link` values; this module maps them to and from rows and
stores them, every write fenced by the run lease, so a run that lost its lease can never
overwrite its successor's state. The engine (`sync.engine`) is its main user; the review of
held deletions reads the rows for people and records their decisions next to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import HeldDecision, ObjectLink, SyncState, utcnow
from brightsync.sync import leases
from brightsync.sync.adapter import CRM, MAILBOX, SIDES, Side
from brightsync.sync.status import Link, SideState
from brightsync.sync.twoway import Failed, Outcome, Step

TOMBSTONE_DAYS = 30


@dataclass(frozen=True)
class Scope:
    """Whose links: one user's records of one domain."""

    org_id: int
    user_id: int
    domain: str


@dataclass(frozen=True)
class Lease:
    """The run lease every state write is fenced by (`RunContext.state_id` and `.token`)."""

    state_id: int
    token: str

    def fence(self, session: Session) -> None:
        """Extend the run lease inside `session`'s transaction, or raise LeaseLost.

        The fenced UPDATE holds the sync_state row until commit, so no other run can take the
        lease between this check and the writes that follow it in the same transaction.
        """
        leases.fenced_update(
            session, SyncState, self.state_id, self.token, lease_until=leases.expiry()
        )


# --- rows <-> the core's Link ---------------------------------------------------------------


def _side_from_row(row: ObjectLink, side: Side) -> SideState:
    return SideState(
        id=getattr(row, f"{side}_id"),
        version=getattr(row, f"{side}_version"),
        seen=getattr(row, f"{side}_fields"),
        base=getattr(row, f"{side}_base") or {},
        modified=getattr(row, f"{side}_modified"),
        gone=bool(getattr(row, f"{side}_gone")),
    )


def link_of(row: ObjectLink) -> Link:
    return Link(
        key=row.id,
        mailbox=_side_from_row(row, MAILBOX),
        crm=_side_from_row(row, CRM),
        held=row.held,  # type: ignore[arg-type]
        blocked=row.blocked,
        sent=row.update_intent or {},
    )


def state_of(link: Link, row: ObjectLink) -> str:
    """The row's `state` column, as operators read it."""
    if link.dead:
        return "deleted"
    if link.held:
        return "held"
    if link.blocked:
        return "failed"
    if row.intent_key or any(link.side(s).id is None for s in SIDES):
        return "creating"
    return "synced"


def store_link(row: ObjectLink, link: Link) -> None:
    """Copy `link` onto `row` (both sides, the hold and the block)."""
    for side in SIDES:
        state = link.side(side)
        setattr(row, f"{side}_id", state.id)
        setattr(row, f"{side}_version", state.version)
        setattr(row, f"{side}_fields", dict(state.seen) if state.seen is not None else None)
        setattr(row, f"{side}_hash", state.hash)
        setattr(row, f"{side}_base", dict(state.base))
        setattr(row, f"{side}_modified", state.modified)
        setattr(row, f"{side}_gone", state.gone)
    row.held = link.held
    row.blocked = link.blocked
    row.update_intent = {side: dict(fields) for side, fields in link.sent.items()} or None
    if link.blocked is None:
        row.error = None
    row.state = state_of(link, row)


def step_columns(step: Step, outcomes: dict[int, Outcome], policy: str) -> dict[str, Any]:
    """What a handled step records on its row besides the link (pure): the create intent
    cleared once a create went through (or none was due), the reason of a final failure or a
    review, and what a conflict lost under `policy`."""
    now = utcnow()
    columns: dict[str, Any] = {}
    creates = [i for i, w in enumerate(step.writes) if w.op == "create"]
    if not creates or any(not isinstance(outcomes[i], Failed) for i in creates):
        columns.update(intent_key=None, intent_side=None)
    final = [o for o in outcomes.values() if isinstance(o, Failed) and o.kind in ("final", "held")]
    if final:
        columns.update(error=final[0].reason[:2000], error_at=now)
    if step.kind == "review":
        columns.update(error=step.reason[:2000], error_at=now)
    if step.conflicts:
        columns["conflict"] = {
            "fields": list(step.conflicts),
            "lost": {side: dict(values) for side, values in step.lost.items()},
            "policy": policy,
            "at": now.isoformat(),
        }
    return columns


# --- reading and storing links --------------------------------------------------------------


def load_links(session: Session, scope: Scope) -> list[Link]:
    rows = session.scalars(
        select(ObjectLink).where(
            ObjectLink.user_id == scope.user_id, ObjectLink.domain == scope.domain
        )
    )
    return [link_of(row) for row in rows]


def save_link(lease: Lease, scope: Scope, link: Link, **extra: Any) -> Link:
    """Store `link` (a new row when it has no key) with `extra` columns, fenced by `lease`;
    returns it with its key."""
    with session_scope() as s:
        lease.fence(s)
        row = s.get(ObjectLink, link.key) if link.key is not None else None
        if row is None:
            row = ObjectLink(org_id=scope.org_id, user_id=scope.user_id, domain=scope.domain)
            s.add(row)
        store_link(row, link)
        for name, value in extra.items():
            setattr(row, name, value)
        row.state = state_of(link, row)
        s.flush()
        return replace(link, key=row.id)


def reopen_waiting(lease: Lease, scope: Scope, link_ids: Sequence[int]) -> int:
    """Forget links that only wait (one side, nothing ever written: a record sent to review)
    and reset the cursors, so the next plan sees those records as new again (e.g. after a
    person decided the review). Returns how many were forgotten."""
    if not link_ids:
        return 0
    with session_scope() as s:
        lease.fence(s)
        gone = s.execute(
            delete(ObjectLink).where(
                ObjectLink.id.in_(list(link_ids)),
                ObjectLink.user_id == scope.user_id,
                ObjectLink.domain == scope.domain,
                ObjectLink.blocked.is_not(None),
                (ObjectLink.mailbox_id.is_(None)) | (ObjectLink.crm_id.is_(None)),
            )
        ).rowcount
    if gone:
        reset_cursors(lease)
    return gone


def prune_tombstones(scope: Scope, older_than: timedelta = timedelta(days=TOMBSTONE_DAYS)) -> int:
    """Tombstones absorb late deletion reports and stale replays; after a month they go."""
    with session_scope() as s:
        return s.execute(
            delete(ObjectLink).where(
                ObjectLink.user_id == scope.user_id,
                ObjectLink.domain == scope.domain,
                ObjectLink.state == "deleted",
                ObjectLink.updated_at < utcnow() - older_than,
            )
        ).rowcount


# --- decisions people made on held deletions (`review.held` records them) -------------------


def held_decisions(scope: Scope) -> dict[str, list[int]]:
    """decision ("approve", "reject") -> ids of this scope's links it was made for."""
    with session_scope() as s:
        rows = s.execute(
            select(HeldDecision.link_id, HeldDecision.decision)
            .join(ObjectLink, ObjectLink.id == HeldDecision.link_id)
            .where(ObjectLink.user_id == scope.user_id, ObjectLink.domain == scope.domain)
        ).all()
    decided: dict[str, list[int]] = {}
    for link_id, decision in rows:
        decided.setdefault(decision, []).append(link_id)
    return decided


def forget_decisions(lease: Lease, link_ids: Sequence[int]) -> None:
    """The decisions on these links were carried out (fenced: only by the lease holder)."""
    with session_scope() as s:
        lease.fence(s)
        s.execute(delete(HeldDecision).where(HeldDecision.link_id.in_(list(link_ids))))


def held_link(link_id: int) -> Link | None:
    """Link `link_id` while a deletion on it is held."""
    with session_scope() as s:
        row = s.get(ObjectLink, link_id)
        if row is None or row.held is None:
            return None
        return link_of(row)


# --- the run's cursors ------------------------------------------------------------------------


def read_cursors(state_id: int) -> dict[Side, str | None]:
    with session_scope() as s:
        state = s.get(SyncState, state_id)
        if state is None:
            return {MAILBOX: None, CRM: None}
        return {MAILBOX: state.updated_token, CRM: state.crm_since}


def store_cursors(lease: Lease, cursors: dict[Side, str | None]) -> None:
    with session_scope() as s:
        lease.fence(s)
        state = s.get(SyncState, lease.state_id)
        assert state is not None
        state.updated_token = cursors[MAILBOX]
        state.crm_since = cursors[CRM]


def reset_cursors(lease: Lease) -> None:
    """Forget both cursors: the next run starts with a full listing (links make it echo-free)."""
    store_cursors(lease, {MAILBOX: None, CRM: None})
