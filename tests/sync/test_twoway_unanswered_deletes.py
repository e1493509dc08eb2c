"""A create whose answer never came back, then its source deleted: the deletion still reaches
the other side (histories the state machine in test_twoway_state_machine.py found).

The engine adopts what an unanswered create made (`Engine.resolve_intents`, or by content from
the next delta); when the record it was made from is gone by then, the adopted record is
deleted too and the link becomes a tombstone, never a "synced" link to a missing record.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from brightsync.clients.http import TransientError
from brightsync.db import session_scope
from brightsync.models import ObjectLink
from brightsync.sync import engine, leases, links, scheduler
from brightsync.sync.adapter import CRM, MAILBOX
from brightsync.sync.status import Settings
from tests.factories import make_org, make_user
from tests.sync.memory import Crash, MemoryAdapter, take_lease

IDENTITY = ("title", "notes")


class Run:
    """One user's memory domain, synced the way the state machine does it."""

    def __init__(self, policy: str = "newest") -> None:
        self.org_id = make_org("o")
        self.user_id = make_user(self.org_id, f"u{uuid.uuid4().hex[:12]}")
        with session_scope() as s:
            self.state_id = scheduler.ensure_state(s, self.user_id, "memory").id
        self.lease = take_lease(self.state_id)
        self.adapter = MemoryAdapter()
        self.settings = Settings(conflict=policy, guard_minimum=4)  # type: ignore[arg-type]
        self.scope = links.Scope(self.org_id, self.user_id, "memory")

    def sync(self, *faults: str) -> None:
        """One run with these write faults; a crash hands the lease to a successor."""
        self.adapter.faults = list(faults)
        try:
            engine.sync(self.adapter, self.scope, self.settings, self.lease, identity=IDENTITY)
        except TransientError:
            pass
        except Crash:
            old, self.lease = self.lease, take_lease(self.state_id)
            with pytest.raises(leases.LeaseLost):
                links.store_cursors(old, {MAILBOX: None, CRM: None})
        finally:
            self.adapter.faults = []

    def quiet_sync(self) -> None:
        for _ in range(6):
            before = self.writes()
            self.sync()
            if self.writes() == before:
                return
        raise AssertionError("the sides did not settle")

    def writes(self) -> tuple[int, int]:
        return (self.adapter.sides[MAILBOX].writes, self.adapter.sides[CRM].writes)

    def links(self) -> list[ObjectLink]:
        with session_scope() as s:
            rows = list(s.scalars(select(ObjectLink).where(ObjectLink.user_id == self.user_id)))
            s.expunge_all()
        return rows

    def records(self, side: str) -> dict[str, dict]:
        return self.adapter.sides[side].records  # type: ignore[index]


@pytest.fixture
def run(unit_env) -> Run:
    return Run()


def fields(title: str, crm: bool = False) -> dict[str, str]:
    out = {"title": title, "notes": "", "status": "open"}
    return {**out, "related": "acct-1"} if crm else out


def test_worker_died_after_the_create_and_the_source_was_deleted(run):
    """History A: the CRM create happened, the worker died before recording it, the mailbox
    record was deleted before the next run: the record the create made is deleted too."""
    m1 = run.adapter.sides[MAILBOX].put(fields("call"))
    run.sync("crash")  # the CRM record is made, then the worker dies
    assert len(run.records(CRM)) == 1
    run.adapter.sides[MAILBOX].remove(m1)

    run.quiet_sync()

    assert run.records(MAILBOX) == {}
    assert run.records(CRM) == {}, "deleting the mailbox record did not delete what it made"
    assert [r.state for r in run.links()] == ["deleted"]
    before = run.writes()
    run.sync()
    assert run.writes() == before


def test_a_move_then_the_source_deleted(run):
    """A linked pair, the CRM record deleted and made again with the same content (a move),
    a run whose write answer is lost, then the mailbox record deleted: the CRM record goes
    with it."""
    m1 = run.adapter.sides[MAILBOX].put(fields("call"))
    run.quiet_sync()
    (c1,) = run.records(CRM)
    run.adapter.sides[CRM].remove(c1)
    c2 = run.adapter.sides[CRM].put(fields("call", crm=True))
    run.sync("lost")
    run.adapter.sides[MAILBOX].remove(m1)

    run.quiet_sync()

    assert c2 not in run.records(CRM), f"deleting {m1} in the mailbox did not delete {c2}"
    live = [r for r in run.links() if r.state == "synced"]
    for side in (MAILBOX, CRM):
        assert {getattr(r, f"{side}_id") for r in live} == set(run.records(side))
    before = run.writes()
    run.sync()
    assert run.writes() == before


def test_answer_lost_for_a_recreate_after_a_deletion(run):
    """Modified beats deleted: the CRM record is deleted, the mailbox one edited, and the
    create that brings it back to the CRM loses its answer: what it made is adopted once,
    never taken for a new CRM record and copied back to the mailbox."""
    run.adapter.sides[MAILBOX].put(fields("call"))
    m2 = run.adapter.sides[MAILBOX].put(fields("call"))
    run.quiet_sync()
    c1 = next(r.crm_id for r in run.links() if r.mailbox_id != m2)
    run.adapter.sides[CRM].remove(c1)
    run.sync("fail")  # the deletion of m1 is deferred
    m1 = next(r.mailbox_id for r in run.links() if r.mailbox_id != m2)
    run.adapter.sides[MAILBOX].edit(m1, {"notes": "n1"})
    run.sync("lost")  # m1 is made again in the CRM; the answer is lost

    run.quiet_sync()

    live = [r for r in run.links() if r.state == "synced"]
    for side in (MAILBOX, CRM):
        ids = [getattr(r, f"{side}_id") for r in live]
        assert len(ids) == len(set(ids)), f"{side} record linked twice"
        assert set(ids) == set(run.records(side))
    assert len(run.records(MAILBOX)) == len(run.records(CRM)) == 2


def test_worker_died_after_a_recreate_made_before_the_deletion_was_stored(run):
    """Modified beats deleted, and the worker dies right after the re-create: the next run
    sees the deletion again and the record the dead run made, and adopts that record."""
    m1 = run.adapter.sides[MAILBOX].put(fields("call"))
    run.sync()
    run.adapter.sides[MAILBOX].edit(m1, {"notes": "n1"})
    (c1,) = run.records(CRM)
    run.adapter.sides[CRM].remove(c1)
    run.sync("crash")  # m1 is made again in the CRM, then the worker dies

    run.sync()

    live = [r for r in run.links() if r.state != "deleted"]
    assert len(live) == 1 and len(run.records(MAILBOX)) == len(run.records(CRM)) == 1
    assert (live[0].mailbox_id, live[0].crm_id) == (m1, *run.records(CRM))
