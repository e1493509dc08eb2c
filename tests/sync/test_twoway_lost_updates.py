"""An update whose answer is lost (or whose run dies after it), then the person edits the
record again before the retry: the edit must not be lost.

Found by tests/sync/test_twoway_real_machine.py (issue 20): without a record of the update
in flight, the next run took our own delivered value on the target side for someone else's
change there. Edited A -> B, B delivered with its answer lost, edited back B -> A: the source
read "unchanged" (A was its base) and the target "changed" (B), so B was copied back over the
person's A (two-way), or A never reached the target (one-way). The engine now records an
update's fields before sending (`update_intent`) and `twoway.landed` settles them.
"""

from __future__ import annotations

import uuid

import pytest

from brightsync.clients.http import TransientError
from brightsync.db import session_scope
from brightsync.sync import engine, links, scheduler
from brightsync.sync.adapter import CRM, MAILBOX
from brightsync.sync.status import Settings
from tests.factories import make_org, make_user
from tests.sync.memory import MemoryAdapter, take_lease


@pytest.mark.parametrize("direction", ["two-way", "to-crm"])
def test_an_edit_back_after_a_lost_update_answer_is_kept(unit_env, direction):
    org_id = make_org("o")
    user_id = make_user(org_id, f"u{uuid.uuid4().hex[:12]}")
    with session_scope() as s:
        state_id = scheduler.ensure_state(s, user_id, "memory").id
    scope = links.Scope(org_id, user_id, "memory")
    adapter = MemoryAdapter()
    settings = Settings(direction=direction)  # type: ignore[arg-type]

    def sync(faults: list[str] = ()) -> None:
        adapter.faults = list(faults)
        try:
            engine.sync(adapter, scope, settings, take_lease(state_id), identity=("title",))
        except TransientError:
            pass

    mailbox = adapter.sides[MAILBOX]
    record_id = mailbox.put({"title": "A", "notes": "", "status": "open"})
    sync()
    (crm_id,) = adapter.sides[CRM].records
    mailbox.edit(record_id, {"title": "B"})
    sync(["lost"])  # B reaches the CRM; its answer does not
    assert adapter.sides[CRM].records[crm_id]["title"] == "B"
    mailbox.edit(record_id, {"title": "A"})  # the person changes it back before the retry
    sync()
    sync()
    assert mailbox.records[record_id]["title"] == "A", "the person's last edit was undone"
    assert adapter.sides[CRM].records[crm_id]["title"] == "A", "the last edit never arrived"


def test_an_unanswered_update_that_did_not_land_is_decided_again():
    """`landed` moves the bases only when the target holds exactly what was sent."""
    from brightsync.sync.adapter import Record
    from brightsync.sync.status import Link, SideState
    from brightsync.sync.twoway import landed

    link = Link(
        key=1,
        mailbox=SideState("m1", base={"title": "A"}),
        crm=SideState("c1", base={"title": "A"}),
        sent={CRM: {"title": "B"}},
    )
    there = {MAILBOX: Record("m1", {"title": "B"}), CRM: Record("c1", {"title": "B"})}
    done = landed(link, there)
    assert done.sent == {} and done.mailbox.base == done.crm.base == {"title": "B"}
    lost = {MAILBOX: Record("m1", {"title": "B"}), CRM: Record("c1", {"title": "A"})}
    kept = landed(link, lost)
    assert kept.sent == {} and kept.mailbox.base == kept.crm.base == {"title": "A"}
