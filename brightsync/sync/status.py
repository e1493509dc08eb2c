"""A status row as the two-way core sees it, the run's settings, and what a side looks like now.

Values only, no I/O: `sync/twoway.py` decides one link from them, `sync/plan.py` a whole run,
and `sync/engine.py` stores them.

Each link keeps, per side, the record's id and version, the mapped fields **as last seen** (so
a record the delta does not report is known to be unchanged) and a **merge base**: the values
that side held when the two sides last agreed (see `sync/twoway.py` for how they are used).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from brightsync.sync.adapter import CRM, MAILBOX, SIDES, ChangeSet, Record, Side, content_hash

Direction = Literal["two-way", "to-crm", "to-mailbox", "off"]
Policy = Literal["newest", "crm", "mailbox"]
DIRECTIONS: tuple[str, ...] = ("two-way", "to-crm", "to-mailbox", "off")
POLICIES: tuple[str, ...] = ("newest", "crm", "mailbox")

# What a side looks like in this run: a Record (reported now, or as last seen), GONE (deleted),
# or None (the link has no record on that side yet).
GONE = "gone"
Current = Record | Literal["gone"] | None


@dataclass(frozen=True)
class Settings:
    direction: Direction = "two-way"
    conflict: Policy = "newest"
    guard_fraction: float = 0.5
    guard_minimum: int = 10

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.conflict not in POLICIES:
            raise ValueError(f"conflict must be one of {', '.join(POLICIES)}")

    def flows(self, source: Side, target: Side) -> bool:
        """May changes flow from `source` to `target`?"""
        if source == target or self.direction == "off":
            return False
        if self.direction == "two-way":
            return True
        return (source, self.direction) in ((MAILBOX, "to-crm"), (CRM, "to-mailbox"))


@dataclass(frozen=True)
class SideState:
    """One side of a status row."""

    id: str | None = None
    version: str | None = None
    seen: Mapping[str, Any] | None = None  # mapped fields as last seen
    base: Mapping[str, Any] = field(default_factory=dict)  # merge base for this side
    modified: datetime | None = None
    gone: bool = False  # tombstone: the record was deleted

    @property
    def hash(self) -> str | None:
        return None if self.seen is None else content_hash(self.seen)

    def record(self) -> Record | None:
        if self.id is None or self.seen is None:
            return None
        return Record(self.id, self.seen, self.version, self.modified)


@dataclass(frozen=True)
class Link:
    """A status row as the core sees it. `key` is the row id (None: not stored yet)."""

    key: int | None = None
    mailbox: SideState = field(default_factory=SideState)
    crm: SideState = field(default_factory=SideState)
    held: Side | None = None  # a deletion on this side waits for review
    blocked: str | None = None  # state hash at which a write failed for good
    # Per side, the fields an update sent there whose answer never came (lost, or the worker
    # died): the next decision checks whether they landed (`twoway.decide`).
    sent: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def side(self, side: Side) -> SideState:
        return self.mailbox if side == MAILBOX else self.crm

    def with_side(self, side: Side, state: SideState) -> Link:
        return replace(self, **{side: state})

    @property
    def dead(self) -> bool:
        """Both records gone (or never made): a tombstone."""
        return all(s.gone or s.id is None for s in (self.mailbox, self.crm))


def current_of(link: Link, side: Side, changes: ChangeSet | None) -> Current:
    """What `side` of `link` looks like in this run: as the delta reports it, else as last
    seen (a record the delta does not mention is unchanged)."""
    state = link.side(side)
    if state.id is None:
        return None
    if changes is not None:
        if state.id in changes.deleted:
            return GONE
        for record in changes.records:
            if record.id == state.id:
                return record
    if state.gone:
        return GONE
    return state.record()


def observed(link: Link, current: Mapping[Side, Current]) -> Link:
    """`link` with what this run sees recorded (ids, versions, fields), bases untouched: the
    row to store before a write, so a crash after it still knows what was seen."""
    for side in SIDES:
        cur = current[side]
        if isinstance(cur, Record):
            state = link.side(side)
            link = link.with_side(
                side,
                replace(
                    state,
                    id=cur.id,
                    version=cur.version,
                    seen=cur.fields,
                    modified=cur.modified,
                    gone=False,
                ),
            )
    return link


def state_hash(current: Mapping[Side, Current]) -> str:
    """Both sides' current content: a write that failed for good is not retried until this
    changes."""
    return content_hash(
        {side: (c.fields if isinstance(c, Record) else c) for side, c in sorted(current.items())}
    )
