"""Calendar CRMs in the shapes the requirements allow, through real workers on both backends:
child events per attendee (`parentId`) and several calendars per user (`GET /calendars`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.calendar.test_calendar_adapter import DAVE, at, attendees, meeting
from tests.calendar.test_calendar_sync import crm_events, mailbox, writes
from tests.conftest import Stack
from tests.support.helpers import make_org, make_user, seed_contacts, sync_round


@pytest.fixture
def shaped(clean_stack: Stack) -> Iterator[Stack]:
    """The stack; the CRM's calendar shapes go back to the defaults afterwards."""
    yield clean_stack
    clean_stack.crm(
        "POST", "/_control/settings", json={"childEvents": False, "userCalendars": None}
    ).raise_for_status()


def team(stack: Stack, names: tuple[str, ...], settings: dict[str, Any] | None = None):
    seed_contacts(stack, DAVE)
    users = [{"id": f"u-{n}", "email": f"{n}@acme.com"} for n in names]
    stack.crm("POST", "/_control/seed", json={"users": users}).raise_for_status()
    org_id = make_org(stack, settings=settings)
    return {
        n: make_user(stack, org_id, f"{n}@acme.com", services=["calendar"], crm_user_id=f"u-{n}")
        for n in names
    }


def synced(stack: Stack, user: dict[str, Any]) -> None:
    status = sync_round(stack, user["id"], "calendar")
    assert status["state"] != "error", status


def test_child_events_per_attendee_are_one_meeting(shaped):
    stack = shaped
    stack.crm("POST", "/_control/settings", json={"childEvents": True}).raise_for_status()
    users = team(stack, ("alice", "bob"))
    m = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("bob@acme.com", "dave@customer.com"),
    )
    for name in ("bob", "alice", "bob", "alice"):  # the CRM's children are read by both
        synced(stack, users[name])

    events = crm_events(stack)
    (parent,) = [e for e in events if e["parentId"] is None]
    children = [e for e in events if e["parentId"] == parent["id"]]
    assert len(events) == 4 and len(children) == 3  # the CRM's own copies per attendee
    for name in ("alice", "bob"):  # each calendar keeps its one copy; none was added
        assert [e["subject"] for e in mailbox(stack, users[name])] == ["Quote review"]

    # A change in the organizer's calendar lands on the parent (the CRM updates its children).
    stack.aurinko(
        "PATCH", f"/_control/meetings/{m['iCalUid']}", json={"start": at(4), "end": at(4, 11)}
    ).raise_for_status()
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")
    synced(stack, users["alice"])
    assert writes(stack) == {"events.update": 1}
    moved = datetime.fromisoformat(at(4)["dateTime"])
    assert {datetime.fromisoformat(e["startTime"]) for e in crm_events(stack)} == {moved}

    # Quiet rounds: the family's re-reads are no changes on either side.
    for name in ("bob", "alice"):
        synced(stack, users[name])
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")
    for name in ("bob", "alice"):
        synced(stack, users[name])
    assert writes(stack) == {}
    assert len(crm_events(stack)) == 4


def test_several_crm_calendars_meetings_go_to_the_chosen_one(shaped):
    stack = shaped
    stack.crm(
        "POST", "/_control/settings", json={"userCalendars": ["Calendar", "Sales"]}
    ).raise_for_status()
    users = team(stack, ("alice",), settings={"calendar": {"crmCalendar": "sales"}})
    meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("dave@customer.com"),
    )
    synced(stack, users["alice"])
    (made,) = crm_events(stack)
    assert made["calendarId"] == "cal_u-alice_2"  # her "Sales" calendar, not her primary

    # Made in the CRM: one in her Sales calendar reaches her mailbox, one in her primary
    # calendar (where the CRM files an event that names none) is not hers to sync.
    alice = {"userId": "u-alice", "emailAddress": "alice@acme.com"}
    for subject, extra in (("Demo call", {"calendarId": "cal_u-alice_2"}), ("Dentist", {})):
        start = datetime.fromisoformat(at(5)["dateTime"])
        body = {
            "subject": subject,
            "startTime": start.isoformat(),
            "endTime": start.replace(hour=start.hour + 1).isoformat(),
            "attendees": [alice, {"emailAddress": "dave@customer.com"}],
            **extra,
        }
        stack.crm("POST", "/api/v1/events", json=body).raise_for_status()
    synced(stack, users["alice"])
    subjects = sorted(e["subject"] for e in mailbox(stack, users["alice"]))
    assert subjects == ["Demo call", "Quote review"]
