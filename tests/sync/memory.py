"""An in-memory pair of sides behind the real adapter protocol, for tests of the two-way core.

The mailbox side holds a coarser status (``waiting`` reads back as ``open``) and cannot hold
``related``; the CRM side honours idempotency keys and can be searched by them. Writes can be
made to fail before they happen, fail for good, or happen with their answer lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from brightsync.clients.http import FinalError, NotFoundError, TransientError
from brightsync.db import session_scope
from brightsync.models import SyncState, utcnow
from brightsync.sync import links, scheduler
from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record, Side

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
COARSE = {"waiting": "open"}


class Crash(Exception):
    """The worker dies here (not an API error: nothing catches it)."""


@dataclass
class Clock:
    tick: int = 0

    def now(self) -> datetime:
        self.tick += 1
        return EPOCH + timedelta(seconds=self.tick)


@dataclass
class MemorySide:
    name: Side
    clock: Clock
    holds: tuple[str, ...]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    modified: dict[str, datetime] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    next_id: int = 0
    writes: int = 0  # writes the sync made here

    def _store(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in fields.items() if k in self.holds}
        if self.name == MAILBOX and "status" in kept:
            kept["status"] = COARSE.get(kept["status"], kept["status"])
        return kept

    def _touch(self, record_id: str) -> None:
        self.seq += 1
        self.log.append((self.seq, record_id))
        if record_id in self.records:
            self.versions[record_id] = self.versions.get(record_id, 0) + 1
            self.modified[record_id] = self.clock.now()

    def record(self, record_id: str) -> Record:
        return Record(
            record_id,
            dict(self.records[record_id]),
            str(self.versions[record_id]),
            self.modified[record_id],
        )

    # -- what people do --
    def put(self, fields: Mapping[str, Any]) -> str:
        self.next_id += 1
        record_id = f"{self.name[0]}{self.next_id}"
        self.records[record_id] = self._store(fields)
        self._touch(record_id)
        return record_id

    def edit(self, record_id: str, changes: Mapping[str, Any]) -> None:
        self.records[record_id].update(self._store(changes))
        self._touch(record_id)

    def remove(self, record_id: str) -> None:
        del self.records[record_id]
        self._touch(record_id)

    # -- what the delta reports --
    def changes(self, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return ChangeSet(tuple(self.record(i) for i in self.records), (), str(self.seq))
        since = int(cursor)
        touched = list(dict.fromkeys(i for s, i in self.log if s > since))
        return ChangeSet(
            tuple(self.record(i) for i in touched if i in self.records),
            tuple(i for i in touched if i not in self.records),
            str(self.seq),
        )


class MemoryAdapter:
    domain = "memory"

    def __init__(self) -> None:
        self.clock = Clock()
        self.sides = {
            MAILBOX: MemorySide(MAILBOX, self.clock, ("title", "notes", "status")),
            CRM: MemorySide(CRM, self.clock, ("title", "notes", "status", "related")),
        }
        self.faults: list[str] = []  # per write, in order: ok | fail | lost | final | crash
        self.lost_creates: dict[Side, set[str]] = {MAILBOX: set(), CRM: set()}

    def _fault(self) -> str:
        return self.faults.pop(0) if self.faults else "ok"

    def _before(self, fault: str) -> None:
        if fault == "fail":
            raise TransientError("connection refused", status=503)
        if fault == "final":
            raise FinalError("422 refused", status=422)
        if fault == "crash-before":
            raise Crash()

    def _after(self, fault: str) -> None:
        if fault == "lost":
            raise TransientError("read timed out")
        if fault == "crash":
            raise Crash()

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        return self.sides[side].changes(cursor)

    def get(self, side: Side, record_id: str) -> Record | None:
        s = self.sides[side]
        return s.record(record_id) if record_id in s.records else None

    def find(self, side: Side, fields: Mapping[str, Any], key: str) -> Record | None:
        s = self.sides[side]
        if side == CRM and s.keys.get(key) in s.records:
            return s.record(s.keys[key])
        return None  # the mailbox has no lookup: the next delta is searched instead

    def create(self, side: Side, fields: Mapping[str, Any], key: str) -> Record:
        s = self.sides[side]
        fault = self._fault()
        self._before(fault)
        if side == CRM and s.keys.get(key) in s.records:
            return s.record(s.keys[key])  # Idempotency-Key replay
        record_id = s.put(fields)
        s.writes += 1
        if side == CRM:
            s.keys[key] = record_id
        if fault in ("lost", "crash"):
            self.lost_creates[side].add(record_id)
        self._after(fault)
        return s.record(record_id)

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        s = self.sides[side]
        fault = self._fault()
        self._before(fault)
        if record_id not in s.records:
            raise NotFoundError("no such record", status=404)
        s.edit(record_id, patch)
        s.writes += 1
        self._after(fault)
        return s.record(record_id)

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        s = self.sides[side]
        fault = self._fault()
        self._before(fault)
        if record_id not in s.records:
            raise NotFoundError("no such record", status=404)
        s.remove(record_id)
        s.writes += 1
        self._after(fault)


def take_lease(state_id: int) -> links.Lease:
    """The run lease of `state_id`, taken over as a successor takes a dead run's."""
    with session_scope() as s:
        s.execute(
            update(SyncState)
            .where(SyncState.id == state_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    token = scheduler.try_start(state_id)
    assert token is not None
    return links.Lease(state_id, token)


def assert_one_link_per_record(rows: list[Any]) -> None:
    """The status table's promise, whatever the sides are: no record of either side is held
    by two live links (deleted links are tombstones, not holders)."""
    for side in (MAILBOX, CRM):
        ids = [getattr(r, f"{side}_id") for r in rows if r.state != "deleted"]
        ids = [i for i in ids if i]
        assert len(ids) == len(set(ids)), (side, sorted(ids))
