"""Child events per attendee (`parentId`) read as one meeting: the pure folding rules."""

from __future__ import annotations

from brightsync.calendar.children import families_to_complete, fold, fold_family, parent_id
from brightsync.calendar.mapping import crm_fields

START, END = "2030-05-01T10:00:00+00:00", "2030-05-01T11:00:00+00:00"


def event(event_id: str, *attendees: dict, parent: str | None = None, modified: str = "") -> dict:
    return {
        "id": event_id,
        "subject": "Quote review",
        "startTime": START,
        "endTime": END,
        "attendees": list(attendees),
        "parentId": parent,
        "lastModifiedAt": modified or "2030-01-01T00:00:00+00:00",
    }


def att(address: str, status: str | None = None, **ids: str) -> dict:
    return {"emailAddress": address, "status": status, **ids}


def test_parent_id_reads_only_a_real_parent():
    assert parent_id(event("e1")) is None
    assert parent_id(event("e2", parent="e1")) == "e1"
    assert parent_id({"id": 7, "parentId": 3}) == "3"  # numeric ids, as many CRMs number
    assert parent_id({"id": "e1", "parentId": "e1"}) is None  # itself: no parent
    for odd in ("", True, ["e1"], {"id": "e1"}):
        assert parent_id({"id": "e2", "parentId": odd}) is None


def test_a_family_is_one_meeting_the_parent():
    parent = event("p", att("alice@acme.com", "accepted", userId="u-a"), att("dave@x.com"))
    kids = [
        event("c1", att("alice@acme.com", "accepted", userId="u-a"), parent="p"),
        event("c2", att("dave@x.com", "declined", contactId="ct1"), parent="p"),
        event("c3", att("bob@acme.com", "tentative", userId="u-b"), parent="p"),
    ]
    folded = fold([kids[0], parent, kids[1], kids[2]])
    (meeting,) = folded.meetings
    assert meeting["id"] == "p"
    assert folded.children == {"c1": "p", "c2": "p", "c3": "p"} and folded.orphans == []
    # The parent's attendees first, a child's attendee the parent lacks added; a child's
    # answer and ids fill what the parent's entry leaves open.
    assert meeting["attendees"] == [
        att("alice@acme.com", "accepted", userId="u-a"),
        {"emailAddress": "dave@x.com", "status": "declined", "contactId": "ct1"},
        att("bob@acme.com", "tentative", userId="u-b"),
    ]
    assert crm_fields(meeting)["responses"] == [
        ["alice@acme.com", "accepted"],
        ["bob@acme.com", "tentative"],
        ["dave@x.com", "declined"],
    ]
    assert parent["attendees"][1] == att("dave@x.com")  # the input is left as it was


def test_a_childs_silence_never_overrules_the_parents_answer():
    parent = event("p", att("dave@x.com", "accepted"), att("eve@x.com", "declined"))
    child = event("c", att("dave@x.com", "needsAction"), parent="p")
    other = event("d", att("eve@x.com", "accepted"), parent="p")
    (meeting,) = fold([parent, child, other]).meetings
    assert [a["status"] for a in meeting["attendees"]] == ["accepted", "declined"]


def test_a_family_was_modified_when_any_member_was():
    parent = event("p", att("a@x.com"), modified="2030-01-01T00:00:00+00:00")
    child = event("c", att("a@x.com"), parent="p", modified="2030-01-02T00:00:00Z")
    assert fold_family(parent, [child])["lastModifiedAt"] == "2030-01-02T00:00:00Z"
    assert fold_family(parent, [])["lastModifiedAt"] == "2030-01-01T00:00:00+00:00"


def test_children_without_their_parent_are_orphans_and_plain_events_pass():
    plain = event("e", att("a@x.com"))
    orphan = event("c", att("b@x.com"), parent="gone")
    folded = fold([plain, orphan])
    assert [m["id"] for m in folded.meetings] == ["e"]
    assert folded.orphans == ["gone"] and folded.children == {"c": "gone"}
    assert families_to_complete([plain, orphan, event("d", parent="gone")]) == ["gone"]


def test_the_latest_copy_of_a_record_read_twice_wins():
    old = {**event("p", att("a@x.com")), "subject": "Old"}
    new = {**event("p", att("a@x.com")), "subject": "New"}
    (meeting,) = fold([old, event("c", att("b@x.com"), parent="p"), new]).meetings
    assert meeting["subject"] == "New"
    assert [a["emailAddress"] for a in meeting["attendees"]] == ["a@x.com", "b@x.com"]


def test_malformed_attendees_are_skipped():
    parent = {"id": "p", "attendees": "nobody"}
    child = {"id": "c", "parentId": "p", "attendees": [None, {"emailAddress": 5}, att("A@X.com")]}
    (meeting,) = fold([parent, child]).meetings
    assert meeting["attendees"] == [att("A@X.com")]
