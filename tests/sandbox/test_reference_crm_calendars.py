"""The reference CRM's calendar shapes: several calendars per user, child events per attendee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brightsync.sandbox.crm.harness import CrmSandbox
from tests.sandbox.test_reference_crm import Api

START = datetime(2030, 5, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def crm():
    with CrmSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def api(crm):
    crm.reset()
    crm.seed(users=[{"id": "u-a", "email": "a@acme.com"}, {"id": "u-b", "email": "b@acme.com"}])
    return Api(crm)


def event(*attendees: dict, **fields) -> dict:
    return {
        "subject": "Quote review",
        "startTime": START.isoformat(),
        "endTime": (START + timedelta(hours=1)).isoformat(),
        "attendees": list(attendees),
        **fields,
    }


A = {"emailAddress": "a@acme.com", "userId": "u-a", "status": "accepted"}
B = {"emailAddress": "b@acme.com", "userId": "u-b", "status": "needsAction"}
DAVE = {"emailAddress": "dave@customer.com", "status": "needsAction"}


def test_by_default_one_event_per_meeting_and_no_calendars(api, crm):
    assert api.ok("GET", "/calendars") == []
    made = api.ok("POST", "/events", 201, json=event(A, B))
    assert made["parentId"] is None and made["calendarId"] is None
    assert len(crm.records("events")) == 1


def test_several_calendars_per_user(api, crm):
    assert crm.settings(userCalendars=["Calendar", "Sales"])["userCalendars"] == [
        "Calendar",
        "Sales",
    ]
    mine = api.ok("GET", "/calendars", params={"ownerId": "u-a"})
    assert mine == [
        {"id": "cal_u-a_1", "name": "Calendar", "ownerId": "u-a", "primary": True},
        {"id": "cal_u-a_2", "name": "Sales", "ownerId": "u-a", "primary": False},
    ]
    assert len(api.ok("GET", "/calendars")) == 6  # the default user's, u-a's, u-b's
    # Without a calendar: the first internal attendee's primary; with one: that one.
    assert api.ok("POST", "/events", 201, json=event(B, A))["calendarId"] == "cal_u-b_1"
    chosen = api.ok("POST", "/events", 201, json=event(A, calendarId="cal_u-a_2"))
    assert chosen["calendarId"] == "cal_u-a_2"
    refused = api("POST", "/events", json=event(A, calendarId="cal_nobody"))
    assert refused.status_code == 400 and "no calendar cal_nobody" in refused.json()["message"]
    assert api("PATCH", f"/events/{chosen['id']}", json={"calendarId": "x"}).status_code == 400
    # Malformed settings are refused; a reset goes back to one calendar per user.
    for bad in ([], ["Sales", "sales"], "Sales", [""]):
        response = crm.http.post(f"{crm.url}/_control/settings", json={"userCalendars": bad})
        assert response.status_code == 400, bad
    crm.reset()
    assert api.ok("GET", "/calendars", params={"ownerId": "u-a"}) == []


def test_child_events_per_attendee(api, crm):
    crm.settings(childEvents=True, userCalendars=["Calendar"])
    parent = api.ok("POST", "/events", 201, json=event(A, B, DAVE))
    assert parent["parentId"] is None and parent["calendarId"] == "cal_u-a_1"
    children = [e for e in crm.records("events") if e["parentId"] == parent["id"]]
    assert [c["attendees"] for c in children] == [[A], [B], [DAVE]]
    assert [c["calendarId"] for c in children] == ["cal_u-a_1", "cal_u-b_1", None]
    assert {c["subject"] for c in children} == {"Quote review"}

    # Changing the parent changes its children: Dave leaves, a new time reaches all.
    dave = children[2]["id"]
    later = (START + timedelta(days=1)).isoformat()
    api.ok("PATCH", f"/events/{parent['id']}", json={"attendees": [A, B], "startTime": later})
    children = [e for e in crm.records("events") if e["parentId"] == parent["id"]]
    assert [c["attendees"] for c in children] == [[A], [B]]
    assert {c["startTime"][:10] for c in children} == {later[:10]}
    since = {"since": parent["lastModifiedAt"]}
    assert [d["id"] for d in api.ok("GET", "/deletedEvents", params=since)["records"]] == [dave]

    # One attendee: no family; deleting a parent deletes its children.
    single = api.ok("POST", "/events", 201, json=event(A))
    assert [e["id"] for e in crm.records("events") if e["parentId"] == single["id"]] == []
    api.ok("DELETE", f"/events/{parent['id']}", 204)
    assert [e["id"] for e in crm.records("events")] == [single["id"]]


def test_a_replayed_create_makes_no_second_family(api, crm):
    crm.settings(childEvents=True)
    headers = {"Idempotency-Key": "k1"}
    first = api.ok("POST", "/events", 201, json=event(A, B), headers=headers)
    again = api("POST", "/events", json=event(A, B), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first["id"]
    assert len(crm.records("events")) == 3
