"""The two-way state machine against the real contacts and tasks adapters, over the simulators
(the reference CRM and the Aurinko simulator, over real HTTP), on both backends.

People create, edit and delete on both sides (the same person in both address books too);
syncs run with writes that fail before they happen (503), happen with their answer lost
(stored, then 502), or kill the run after a write. `direction`, the contacts pairer and the
conflict policy vary per example; a mass deletion is held and a person rejects it. Whenever a
sync runs without faults until quiet: no record exists twice, the sides agree where the
direction lets them, an edit made on one side only is never lost, a deletion made on one side
only reaches the other, and a further sync writes nothing.

Budget: TWOWAY_REAL_EXAMPLES examples of TWOWAY_REAL_STEPS steps per domain and backend
(2 and 12 by default, for CI; e.g. 50 and 25 for a nightly-style run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from brightsync.clients.http import TransientError
from brightsync.contacts import rules as contact_rules
from brightsync.contacts.adapter import ContactsAdapter
from brightsync.contacts.pairing import ContactPairer
from brightsync.crm.context import CrmContext, load_context
from brightsync.db import session_scope
from brightsync.models import ObjectLink
from brightsync.review import held as held_review
from brightsync.sync import creates, engine, links, scheduler
from brightsync.sync.adapter import CRM, MAILBOX, Side
from brightsync.sync.status import Settings
from brightsync.tasks import rules as task_rules
from brightsync.tasks.adapter import TasksAdapter
from tests.conftest import Stack, WorkerProcess, reset_stack
from tests.support.helpers import activate, make_org
from tests.support.twoway_world import OWNER, Crashing, World
from tests.sync.memory import Crash, assert_one_link_per_record, take_lease

SIDES = (MAILBOX, CRM)
GUARD_MINIMUM = 3
EXAMPLES = int(os.environ.get("TWOWAY_REAL_EXAMPLES", "2"))
STEPS = int(os.environ.get("TWOWAY_REAL_STEPS", "12"))
NAMES = ["Ann", "Ben", "Cy"]
EXTRAS = ["", "x", "y"]  # jobTitle of a contact, notes of a task
# TWOWAY_NO_SHRINK=1 reports a failure as found (shrinking replays it against the simulators).
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
PHASES += [] if os.environ.get("TWOWAY_NO_SHRINK") else [Phase.shrink]
FAULT = st.sampled_from(["ok", "ok", "fail", "lost"])
FIELDS = {
    "contacts": ("firstName", "jobTitle"),
    "tasks": ("title", "notes"),
}


def other(side: Side) -> Side:
    return CRM if side == MAILBOX else MAILBOX


class RealTwoWay(RuleBasedStateMachine):
    stack: Stack
    domain: str

    @initialize(
        direction=st.sampled_from(["two-way", "two-way", "to-crm", "to-mailbox"]),
        policy=st.sampled_from(["newest", "crm", "mailbox"]),
        pairer=st.booleans(),
    )
    def setup(self, direction: str, policy: str, pairer: bool) -> None:
        reset_stack(self.stack)
        self.stack.crm(
            "POST", "/_control/seed", json={"users": [{"id": OWNER, "email": "ann@acme.com"}]}
        ).raise_for_status()
        self.org_id = make_org(self.stack)
        account = self.stack.aurinko(
            "POST", "/_control/accounts", json={"email": "ann@acme.com", "provider": "google"}
        ).json()
        # Registered for email only: no worker runs this domain behind the machine's back.
        self.user_id = activate(self.stack, self.org_id, "ann@acme.com", account, ["email"], OWNER)
        with session_scope() as s:
            self.state_id = scheduler.ensure_state(s, self.user_id, self.domain).id
        self.world = World(self.stack, self.domain, account)
        self.settings = Settings(
            direction=direction,  # type: ignore[arg-type]
            conflict=policy,  # type: ignore[arg-type]
            guard_minimum=GUARD_MINIMUM,
        )
        self.pairer = pairer and self.domain == "contacts"
        self.scope = links.Scope(self.org_id, self.user_id, self.domain)
        self.people: dict[Side, set[str]] = {MAILBOX: set(), CRM: set()}  # ids people made
        self.edits: dict[tuple[Side, str], dict[str, str]] = {}
        self.deletions: list[tuple[Side, str, str | None]] = []
        self.modified: set[tuple[Side, str]] = set()

    # -- the run ---------------------------------------------------------------------------------
    @contextmanager
    def _adapter(self, crash_after: int | None) -> Iterator[tuple[Any, Any]]:
        ctx = load_context(self.user_id, CrmContext)
        try:
            if self.domain == "contacts":
                adapter: Any = ContactsAdapter(ctx.aurinko, ctx.crm, ctx.matcher, owner_id=OWNER)
                pairer = (
                    ContactPairer(ctx.org_id, ctx.user_id, lookup=adapter.lookup_crm)
                    if self.pairer
                    else None
                )
            else:
                adapter, pairer = TasksAdapter(ctx.aurinko, ctx.crm, owner_id=OWNER), None
            yield Crashing(adapter, crash_after), pairer
        finally:
            ctx.close()

    def _sync(self, crash_after: int | None = None) -> engine.Result | None:
        lease = take_lease(self.state_id)  # a successor takes over whatever the last run left
        identity = contact_rules.IDENTITY if self.domain == "contacts" else task_rules.IDENTITY
        with self._adapter(crash_after) as (adapter, pairer):
            try:
                return engine.sync(
                    adapter, self.scope, self.settings, lease, identity=identity, pairer=pairer
                )
            except TransientError:
                return None

    def _links(self) -> list[ObjectLink]:
        with session_scope() as s:
            rows = list(s.scalars(select(ObjectLink).where(ObjectLink.user_id == self.user_id)))
            s.expunge_all()
        return rows

    def _pick(self, side: Side, data: st.DataObject) -> str | None:
        # People touch what they made or what a sync linked (not a record a create with a lost
        # answer made, until a sync has found it).
        linked = {getattr(r, f"{side}_id") for r in self._links() if r.state == "synced"}
        ids = sorted((self.people[side] | linked) & set(self.world.records(side)))
        # One draw whatever the simulators hold, so a replay draws alike.
        which = data.draw(st.integers(0, 63))
        return ids[which % len(ids)] if ids else None

    # -- people ----------------------------------------------------------------------------------
    @rule(side=st.sampled_from(SIDES + ("both",)), name=st.sampled_from(NAMES))
    def create(self, side: str, name: str) -> None:
        n = next(self.world.seq)
        key = f"p{n}@example.org" if self.domain == "contacts" else f"T{n}"
        if side != "both":
            self.people[side].add(self.world.make(side, name, "", key))  # type: ignore[index]
            return
        # The same item in both, before a sync: not touched until a sync has paired them
        # (two copies edited apart are two items to a sync without a pairer).
        for s in SIDES:
            self.world.make(s, name, "", key)

    @rule(side=st.sampled_from(SIDES), which=st.integers(0, 1), data=st.data())
    def edit(self, side: Side, which: int, data: st.DataObject) -> None:
        record_id = self._pick(side, data)
        # People edit at any time, also right after an update's answer was lost or a run died
        # (the engine's update intents: tests/sync/test_twoway_lost_updates.py).
        if record_id is None:
            return
        name = FIELDS[self.domain][which]
        before = self.world.records(side)[record_id]
        now = before[name].split("/")[-1]  # a task's title is "<key>/<name>"
        values = [v for v in (EXTRAS, NAMES)[which == 0] if v != now]
        value = values[data.draw(st.integers(0, 1))]
        self.world.edit(side, record_id, name, value)
        after = self.world.records(side)[record_id]
        if after != before:
            self.modified.add((side, record_id))
            self.edits.setdefault((side, record_id), {})[name] = after[name]

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def remove(self, side: Side, data: st.DataObject) -> None:
        record_id = self._pick(side, data)
        if record_id is None:
            return
        partner = next(
            (
                getattr(r, f"{other(side)}_id")
                for r in self._links()
                if r.state == "synced" and getattr(r, f"{side}_id") == record_id
            ),
            None,
        )
        self.world.remove(side, record_id)
        self.deletions.append((side, record_id, partner))

    # -- syncs -----------------------------------------------------------------------------------
    @rule(
        faults=st.fixed_dictionaries(
            {(s, m): FAULT for s in SIDES for m in ("POST", "PATCH", "DELETE")}
        ),
        crash_after=st.none() | st.integers(0, 2),
    )
    def sync(self, faults: dict[tuple[Side, str], str], crash_after: int | None) -> None:
        for (side, method), kind in faults.items():
            self.world.fault(side, method, kind)
        try:
            self._sync(crash_after)
        except Crash:
            pass  # the worker died mid-run; the next sync takes its lease over
        finally:
            self.world.clear_faults()

    @precondition(lambda self: hasattr(self, "world") and self.settings.direction == "two-way")
    @rule(side=st.sampled_from(SIDES))
    def mass_delete_rejected(self, side: Side) -> None:
        """Most of one side's records disappear at once: held, then a person rejects it and the
        records come back where they were deleted."""
        self.quiet_sync()
        mine = [getattr(r, f"{side}_id") for r in self._links() if r.state == "synced"]
        if len(mine) < GUARD_MINIMUM:
            return
        theirs = set(self.world.records(other(side)))
        keys = {self.world.records(side)[i]["key"] for i in mine}
        for record_id in mine:
            self.world.remove(side, record_id)
        result = self._sync()
        assert result is not None
        assert result.plan.held == {other(side): len(mine)}
        assert set(self.world.records(other(side))) == theirs
        held = [r.id for r in self._links() if r.state == "held"]
        assert len(held) == len(mine)
        held_review.decide(self.org_id, held, "reject")
        self.quiet_sync()
        restored = {f["key"] for f in self.world.records(side).values()}
        assert keys <= restored, "a rejected deletion was not undone"

    @precondition(lambda self: hasattr(self, "world"))
    @rule()
    def quiet_sync(self) -> None:
        """Sync without faults until nothing changes; then check the outcome."""
        for _ in range(6):
            before = self.world.writes()
            result = self._sync()
            if result is not None and self.world.writes() == before:
                break
        else:
            raise AssertionError("the sides did not settle")
        self._check()
        before = self.world.writes()
        assert self._sync() is not None
        assert self.world.writes() == before, "a quiet re-sync wrote"
        self.edits.clear()
        self.deletions.clear()
        self.modified.clear()
        self.people = {s: set(self.world.records(s)) for s in SIDES}

    # -- what must hold --------------------------------------------------------------------------
    def _check(self) -> None:
        rows = self._links()
        records = {s: self.world.records(s) for s in SIDES}
        for side in SIDES:
            keys = [f["key"] for f in records[side].values()]
            assert len(keys) == len(set(keys)), f"an item twice in the {side}: {records[side]}"
        failed = [r for r in rows if r.state == "failed"]
        assert all(r.error for r in failed)
        excused = {s: {getattr(r, f"{s}_id") for r in failed} - {None} for s in SIDES}
        live = [r for r in rows if r.state == "synced"]
        for side in SIDES:
            ids = [getattr(r, f"{side}_id") for r in live]
            assert len(ids) == len(set(ids)), f"{side} record linked twice"
            if self.settings.direction == "two-way":
                # Everything here reached the other side.
                assert set(ids) >= set(records[side]) - excused[side], (side, ids, records)
        names = FIELDS[self.domain]
        for r in live:
            m, c = records[MAILBOX].get(r.mailbox_id), records[CRM].get(r.crm_id)
            if self.settings.direction != "two-way" and (m is None or c is None):
                continue  # deleted on one side, kept on the other where it may not flow
            assert m is not None and c is not None, ("a live link to nothing", r.id, m, c)
            assert m["key"] == c["key"], (m, c)
            mine = self.edits.get((MAILBOX, r.mailbox_id), {})
            theirs = self.edits.get((CRM, r.crm_id), {})
            for name in names:
                if name in mine and name not in theirs and self.settings.flows(MAILBOX, CRM):
                    assert c[name] == mine[name], f"mailbox edit of {name} lost: {m} {c}"
                if name in theirs and name not in mine and self.settings.flows(CRM, MAILBOX):
                    assert m[name] == theirs[name], f"CRM edit of {name} lost: {m} {c}"
            if self.settings.direction == "two-way":
                assert all(m[n] == c[n] for n in names), (m, c)
        for side, record_id, partner in self.deletions:
            if partner is None or (other(side), partner) in self.modified:
                continue
            if partner in excused[other(side)] or not self.settings.flows(side, other(side)):
                continue
            assert partner not in records[other(side)], (
                f"deleting {record_id} in the {side} did not delete {partner}"
            )

    @invariant()
    def one_link_per_record(self) -> None:
        if hasattr(self, "world"):
            assert_one_link_per_record(self._links())


@pytest.mark.timeout(120 + 4 * EXAMPLES * STEPS)
@pytest.mark.parametrize("domain", ["contacts", "tasks"])
def test_two_way_state_machine_over_the_real_adapters(
    clean_stack: Stack, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = clean_stack
    monkeypatch.setattr(creates, "AGAIN_AFTER", 0.05)  # a lost create is looked for at once
    assert stack.worker is not None
    stack.worker.stop()  # rejected holds queue runs: only the machine may run this domain
    machine = type(f"RealTwoWay_{domain}", (RealTwoWay,), {"stack": stack, "domain": domain})
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=PHASES,
                database=None,
            ),
        )
    finally:
        stack.worker = WorkerProcess(stack.env, stack.backend.workdir, "main")
