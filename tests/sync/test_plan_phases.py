"""The phases of `sync.plan.plan()`, one at a time, with plain values."""

from __future__ import annotations

from dataclasses import replace

from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record
from brightsync.sync.plan import (
    Item,
    Matches,
    adopt_or_move,
    guard,
    items_of,
    linked_ids,
    new_items,
    pair_by_identity,
    pair_with,
    step_for,
    unlinked_of,
)
from brightsync.sync.status import GONE, Link, Settings, SideState
from brightsync.sync.twoway import Step, Write

ID = ("title",)


def rec(rid: str, **fields: object) -> Record:
    return Record(rid, fields, "v1")


def synced(key: int, mid: str, cid: str, **fields: object) -> Link:
    return Link(key, SideState(mid, "v1", fields, fields), SideState(cid, "v1", fields, fields))


def test_unlinked_are_the_delta_records_no_link_knows_and_not_deleted():
    links = [synced(1, "m1", "c1", title="a")]
    changes = {
        MAILBOX: ChangeSet((rec("m1", title="b"), rec("m2", title="c")), ()),
        CRM: ChangeSet((rec("c2", title="d"),), ("c2",)),
    }
    unlinked = unlinked_of(changes, linked_ids(links))
    assert [r.id for r in unlinked[MAILBOX]] == ["m2"]
    assert unlinked[CRM] == []
    [item] = items_of(links, changes)
    assert item.current[MAILBOX] == rec("m1", title="b")
    assert item.current[CRM] == Record("c1", {"title": "a"}, "v1")  # as last seen


def test_a_record_a_lost_create_made_is_adopted_with_what_was_sent_as_base():
    owed = Link(1, SideState("m1", "v1", {"title": "a"}, {"title": "a"}))
    item = Item(owed, {MAILBOX: rec("m1", title="a"), CRM: None})
    made = rec("c9", title="a", extra="x")
    [adopted], left = adopt_or_move([item], [made], CRM, ID)
    assert left == []
    assert adopted.paired == "adopt"
    assert adopted.link.crm.id == "c9" and adopted.link.crm.base == {"title": "a", "extra": "x"}
    assert adopted.link.mailbox.base == {"title": "a"}
    assert adopted.current[CRM] == made


def test_a_deleted_record_back_under_a_new_id_is_a_move_keeping_its_bases():
    link = synced(1, "m1", "c1", title="a")
    item = Item(link, {MAILBOX: rec("m1", title="a"), CRM: GONE})
    [moved], left = adopt_or_move([item], [rec("c2", title="a")], CRM, ID)
    assert left == []
    assert moved.paired == "move"
    assert moved.link.crm.id == "c2" and moved.link.crm.base == {"title": "a"}


def test_without_identity_nothing_is_adopted_or_moved():
    item = Item(synced(1, "m1", "c1", title="a"), {MAILBOX: rec("m1", title="a"), CRM: GONE})
    items, left = adopt_or_move([item], [rec("c2", title="a")], CRM, ())
    assert items == [item] and [r.id for r in left] == ["c2"]


def test_first_sync_pairs_same_content_once_each():
    unlinked = {
        MAILBOX: [rec("m1", title="a"), rec("m2", title="a"), rec("m3", title="b")],
        CRM: [rec("c1", title="a"), rec("c2", title="z")],
    }
    [pair], left = pair_by_identity(unlinked, ID, merged=False)
    assert (pair.link.mailbox.id, pair.link.crm.id) == ("m1", "c1")
    assert pair.paired == "link" and not pair.merge
    assert [r.id for r in left[MAILBOX]] == ["m2", "m3"]
    assert [r.id for r in left[CRM]] == ["c2"]


def test_a_pairer_links_merges_and_sends_doubts_to_review_but_never_takes_a_linked_record():
    seen = {}

    def pairer(unlinked, known):
        seen.update(unlinked=unlinked, known=known)
        return Matches(
            pairs=((rec("m2"), rec("c1")), (rec("m3"), rec("c3"))),
            review={(CRM, "c4"): "maybe Ann"},
        )

    linked_item = Item(synced(1, "m1", "c1"), {MAILBOX: rec("m1"), CRM: rec("c1")})
    unlinked = {MAILBOX: [rec("m2"), rec("m3")], CRM: [rec("c3"), rec("c4"), rec("c5")]}
    new, left = pair_with(pairer, [linked_item], unlinked, {MAILBOX: {"m1"}, CRM: {"c1"}})
    assert seen["known"] == {MAILBOX: [rec("m1")], CRM: [rec("c1")]}
    merged, review = new
    assert (merged.link.mailbox.id, merged.link.crm.id, merged.merge) == ("m3", "c3", True)
    assert review.review == "maybe Ann" and review.link.crm.id == "c4"
    assert [r.id for r in left[MAILBOX]] == ["m2"] and [r.id for r in left[CRM]] == ["c5"]


def test_the_rest_is_new_and_creates_on_the_other_side():
    [item] = new_items({MAILBOX: [], CRM: [rec("c1", title="a")]})
    assert item.current == {CRM: rec("c1", title="a"), MAILBOX: None}
    step = step_for(item, Settings())
    assert step is not None and step.kind == "create"
    assert step.writes == (Write("create", MAILBOX, {"title": "a"}),)


def test_a_pairing_with_nothing_to_write_is_still_a_step_named_after_it():
    link = synced(1, "m1", "c1", title="a")
    item = Item(link, {MAILBOX: rec("m1", title="a"), CRM: rec("c1", title="a")}, "move")
    step = step_for(item, Settings())
    assert step is not None and step.kind == "move" and step.writes == ()


def test_the_guard_holds_a_side_s_deletions_past_its_threshold():
    links = [synced(i, f"m{i}", f"c{i}") for i in range(4)]
    steps = [
        Step("delete", link, {MAILBOX: GONE, CRM: rec(f"c{i}")}, (Write("delete", CRM),), "gone")
        for i, link in enumerate(links[:3])
    ]
    cursors = {MAILBOX: None, CRM: None}
    held = guard(steps, links, cursors, Settings(guard_fraction=0.5, guard_minimum=3))
    assert held.held == {CRM: 3}
    assert {s.kind for s in held.steps} == {"hold"} and held.writes == 0
    assert held.steps[0].reason == "gone; held: 3 of 4 would be deleted"
    free = guard(steps, links, cursors, Settings(guard_fraction=0.5, guard_minimum=4))
    assert free.held == {} and free.writes == 3


def test_a_record_made_again_where_it_was_deleted_is_adopted():
    """Modified beats deleted: the link waits for the CRM record made again from m1."""
    link = synced(1, "m1", "c1", title="a")
    link = link.with_side(CRM, replace(link.crm, gone=True))
    item = Item(link, {MAILBOX: rec("m1", title="b"), CRM: GONE})
    made = rec("c9", title="b")
    [adopted], left = adopt_or_move([item], [made], CRM, ID)
    assert left == [] and adopted.paired == "adopt"
    assert adopted.link.crm.id == "c9" and not adopted.link.crm.gone


def test_a_deleted_record_owes_no_create_while_the_other_is_unchanged():
    link = synced(1, "m1", "c1", title="a")
    link = link.with_side(CRM, replace(link.crm, gone=True))
    item = Item(link, {MAILBOX: rec("m1", title="a"), CRM: GONE})
    items, left = adopt_or_move([item], [rec("c9", title="a")], CRM, ID)
    assert items == [item] and [r.id for r in left] == ["c9"]
