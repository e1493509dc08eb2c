"""The two-way decision core with plain values: no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record
from brightsync.sync.plan import plan
from brightsync.sync.status import Link, Settings, SideState
from brightsync.sync.twoway import Failed, settle

T1 = datetime(2026, 1, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 1, 1, 10, tzinfo=UTC)
ID = ("title",)


def synced(key: int, fields: dict, mid: str = "m1", cid: str = "c1", **crm: object) -> Link:
    crm_fields = {**fields, **crm}
    return Link(
        key,
        SideState(mid, "mv1", fields, fields, T1),
        SideState(cid, "cv1", crm_fields, crm_fields, T1),
    )


def run(links, mailbox=(), crm=(), m_deleted=(), c_deleted=(), **settings):
    changes = {
        MAILBOX: ChangeSet(tuple(mailbox), tuple(m_deleted), "mc"),
        CRM: ChangeSet(tuple(crm), tuple(c_deleted), "cc"),
    }
    return plan(links, changes, Settings(**settings), ID)


def test_new_mailbox_record_is_created_in_crm_and_its_echo_is_silent():
    new = Record("m1", {"title": "Call Ann", "notes": ""}, "v1", T1)
    p = run([], mailbox=[new])
    (step,) = p.steps
    assert step.kind == "create"
    (write,) = step.writes
    assert (write.op, write.side, dict(write.fields)) == ("create", CRM, new.fields)
    stored = Record("c9", {"title": "Call Ann", "notes": ""}, "cv1", T1)
    link = settle(step, {0: stored})
    assert link.crm.id == "c9" and link.mailbox.id == "m1"
    link = Link(1, link.mailbox, link.crm)
    # The CRM delta reports our own create; the mailbox reports the record again: nothing.
    assert run([link], mailbox=[new], crm=[stored]).steps == ()


def test_only_the_changed_field_is_written():
    link = synced(1, {"title": "a", "notes": "n"})
    p = run([link], mailbox=[Record("m1", {"title": "b", "notes": "n"}, "mv2", T2)])
    (step,) = p.steps
    assert step.kind == "update"
    assert [(w.side, dict(w.fields)) for w in step.writes] == [(CRM, {"title": "b"})]


def test_disjoint_changes_merge_field_by_field():
    link = synced(1, {"title": "a", "notes": "n"})
    p = run(
        [link],
        mailbox=[Record("m1", {"title": "b", "notes": "n"}, "mv2", T2)],
        crm=[Record("c1", {"title": "a", "notes": "x"}, "cv2", T1)],
    )
    (step,) = p.steps
    assert step.kind == "update" and step.conflicts == ()
    assert {w.side: dict(w.fields) for w in step.writes} == {
        MAILBOX: {"notes": "x"},
        CRM: {"title": "b"},
    }


@pytest.mark.parametrize(
    ("policy", "winner"),
    [("newest", "mailbox-value"), ("crm", "crm-value"), ("mailbox", "mailbox-value")],
)
def test_same_field_changed_on_both_sides_goes_by_policy(policy, winner):
    link = synced(1, {"title": "a"})
    p = run(
        [link],
        mailbox=[Record("m1", {"title": "mailbox-value"}, "mv2", T2)],
        crm=[Record("c1", {"title": "crm-value"}, "cv2", T1)],
        conflict=policy,
    )
    (step,) = p.steps
    assert step.kind == "conflict" and step.conflicts == ("title",)
    (write,) = step.writes
    assert dict(write.fields) == {"title": winner}
    assert write.side == (CRM if winner == "mailbox-value" else MAILBOX)
    loser = MAILBOX if write.side == MAILBOX else CRM
    assert "title" in step.lost[loser]


def test_the_same_change_on_both_sides_is_no_conflict():
    link = synced(1, {"title": "a"})
    p = run(
        [link],
        mailbox=[Record("m1", {"title": "b"}, "mv2", T2)],
        crm=[Record("c1", {"title": "b"}, "cv2", T1)],
    )
    assert [s.kind for s in p.steps] == ["refresh"] and p.writes == 0


def test_deleted_on_one_side_and_unchanged_on_the_other_deletes():
    p = run([synced(1, {"title": "a"})], m_deleted=["m1"])
    (step,) = p.steps
    assert step.kind == "delete" and [(w.op, w.side) for w in step.writes] == [("delete", CRM)]
    link = settle(step, {0: None})
    assert link.dead
    # The deletion echo from the CRM changes nothing more.
    assert run([link], c_deleted=["c1"]).steps == ()


def test_modified_beats_deleted():
    p = run(
        [synced(1, {"title": "a"})],
        crm=[Record("c1", {"title": "edited"}, "cv2", T2)],
        m_deleted=["m1"],
    )
    (step,) = p.steps
    assert step.kind == "create"
    assert [(w.op, w.side, dict(w.fields)) for w in step.writes] == [
        ("create", MAILBOX, {"title": "edited"})
    ]


def test_direction_limits_the_flow():
    link = synced(1, {"title": "a"})
    crm_edit = [Record("c1", {"title": "b"}, "cv2", T2)]
    assert run([link], crm=crm_edit, direction="to-crm").writes == 0
    assert run([link], crm=crm_edit, direction="to-mailbox").writes == 1
    assert run([link], crm=crm_edit, direction="off").steps == ()
    new = [Record("c7", {"title": "new"}, "v", T1)]
    assert run([], crm=new, direction="to-crm").writes == 0
    assert run([link], m_deleted=["m1"], direction="to-mailbox").writes == 0


def test_mass_deletion_is_held_for_review_and_stays_held():
    links = [synced(i, {"title": f"t{i}"}, f"m{i}", f"c{i}") for i in range(12)]
    p = run(links, m_deleted=[f"m{i}" for i in range(10)])
    assert p.writes == 0 and p.held == {CRM: 10}
    assert {s.kind for s in p.steps} == {"hold"}
    held = settle(p.steps[0], {})
    assert held.held == CRM and held.mailbox.gone
    assert run([held]).steps == ()
    # A held record edited in the CRM is re-created in the mailbox instead.
    edited = Record(held.crm.id, {"title": "edited"}, "cv9", T2)
    (step,) = run([held], crm=[edited]).steps
    assert step.kind == "create" and step.writes[0].side == MAILBOX


def test_below_the_guard_deletions_go_ahead():
    links = [synced(i, {"title": f"t{i}"}, f"m{i}", f"c{i}") for i in range(30)]
    assert run(links, m_deleted=[f"m{i}" for i in range(9)]).writes == 9  # fewer than 10
    assert run(links, m_deleted=[f"m{i}" for i in range(15)]).writes == 15  # not over half


def test_lossy_value_is_never_written_back():
    # The CRM asked for "inProgress"; this mailbox can only hold "notStarted".
    p = run([], crm=[Record("c1", {"title": "a", "status": "inProgress"}, "cv1", T1)])
    (step,) = p.steps
    stored = Record("m1", {"title": "a", "status": "notStarted"}, "mv1", T1)
    link = settle(step, {0: stored})
    link = Link(1, link.mailbox, link.crm)
    assert run([link], mailbox=[stored]).steps == ()
    # A later title edit in the mailbox writes the title only, never the coarse status.
    edit = Record("m1", {"title": "b", "status": "notStarted"}, "mv2", T2)
    (step,) = run([link], mailbox=[edit]).steps
    assert [dict(w.fields) for w in step.writes] == [{"title": "b"}]


def test_a_failed_write_is_retried_by_the_next_run_without_a_new_report():
    link = synced(1, {"title": "a", "notes": "n"})
    p = run(
        [link],
        mailbox=[Record("m1", {"title": "b", "notes": "n"}, "mv2", T2)],
        crm=[Record("c1", {"title": "a", "notes": "x"}, "cv2", T1)],
    )
    (step,) = p.steps
    to_crm = next(i for i, w in enumerate(step.writes) if w.side == CRM)
    to_mailbox = 1 - to_crm
    answers = {
        to_crm: Record("c1", {"title": "b", "notes": "x"}, "cv3", T2),
        to_mailbox: Failed("transient", "timeout"),
    }
    after = settle(step, answers)
    (retry,) = run([after]).steps
    assert [(w.side, dict(w.fields)) for w in retry.writes] == [(MAILBOX, {"notes": "x"})]


def test_a_final_failure_waits_for_new_content():
    link = synced(1, {"title": "a"})
    edit = Record("m1", {"title": "b"}, "mv2", T2)
    (step,) = run([link], mailbox=[edit]).steps
    after = settle(step, {0: Failed("final", "422 subject too long")})
    assert run([after]).steps == ()
    (again,) = run([after], mailbox=[Record("m1", {"title": "c"}, "mv3", T2)]).steps
    assert again.writes[0].fields == {"title": "c"}


def test_delete_and_create_with_the_same_content_is_a_move():
    link = synced(1, {"title": "a"})
    p = run([link], mailbox=[Record("m2", {"title": "a"}, "mv", T2)], m_deleted=["m1"])
    (step,) = p.steps
    assert step.kind == "move" and p.writes == 0
    assert settle(step, {}).mailbox.id == "m2"


def test_a_record_a_lost_create_made_is_adopted_not_duplicated():
    (step,) = run([], crm=[Record("c1", {"title": "a"}, "cv", T1)]).steps
    pending = settle(step, {0: Failed("transient", "connection reset")})
    pending = Link(1, pending.mailbox, pending.crm)
    assert pending.mailbox.id is None
    # The record was made although the answer was lost: the next delta shows it.
    p = run([pending], mailbox=[Record("m5", {"title": "a"}, "mv", T1)])
    (step,) = p.steps
    assert step.kind == "adopt" and p.writes == 0
    assert settle(step, {}).mailbox.id == "m5"
    # Without it, the create is made again (the engine looks before it does).
    (retry,) = run([pending]).steps
    assert retry.kind == "create"


def test_first_sync_pairs_equal_records_instead_of_copying_both():
    p = run(
        [],
        mailbox=[Record("m1", {"title": "a", "notes": ""}, "mv", T2)],
        crm=[Record("c1", {"title": "a", "notes": "from crm"}, "cv", T1)],
    )
    (step,) = p.steps
    assert step.kind == "conflict"
    assert step.writes[0].side == CRM  # newest wins the differing field
    assert p.describe()["counts"] == {"conflict": 1}


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Settings(direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Settings(conflict="loudest")  # type: ignore[arg-type]
