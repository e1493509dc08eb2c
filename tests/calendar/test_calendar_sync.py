"""Two-way calendar sync through the simulators with real workers, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from brightsync.db import session_scope
from brightsync.models import CreateIntent, utcnow
from tests.calendar.test_calendar_adapter import (
    DAVE,
    PEOPLE,
    at,
    attendees,
    crm_event,
    meeting,
)
from tests.conftest import Stack, wait_for
from tests.support.helpers import make_org, make_user, seed_contacts, sync_round

# The two-way engine (sync/engine.py) lands with the two-way core; until then this waits.
pytest.importorskip("brightsync.sync.engine")


def settle(stack: Stack, users: dict[str, dict[str, Any]]) -> None:
    for name in ("bob", "carol", "alice"):  # the organizer last: the take-over path
        status = sync_round(stack, users[name]["id"], "calendar")
        assert status["lastError"] is None or status["state"] != "error", status


def crm_events(stack: Stack) -> list[dict[str, Any]]:
    return stack.crm("GET", "/_control/records/events").json()


def mailbox(stack: Stack, user: dict[str, Any]) -> list[dict[str, Any]]:
    return stack.aurinko("GET", f"/_control/accounts/{user['accountId']}/events").json()["records"]


def writes(stack: Stack) -> dict[str, int]:
    ops = {
        **stack.aurinko("GET", "/_control/stats").json()["byOperation"],
        **stack.crm("GET", "/_control/stats").json()["byOperation"],
    }
    return {
        op: n
        for op, n in ops.items()
        if op.split(".")[-1] in ("create", "update", "delete") and op.startswith("event")
    }


def test_calendar_two_way_through_real_workers(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    stack.crm(
        "POST",
        "/_control/seed",
        json={"users": [{"id": f"u-{n}", "email": f"{n}@acme.com"} for n in PEOPLE]},
    ).raise_for_status()
    org_id = make_org(stack)
    users = {
        n: make_user(stack, org_id, f"{n}@acme.com", services=["calendar"], crm_user_id=f"u-{n}")
        for n in PEOPLE
    }
    # One meeting for three colleagues, a private one, an all-day one, a weekly series with
    # one occurrence moved and one cancelled.
    m = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("bob@acme.com", "carol@acme.com", "dave@customer.com"),
    )
    meeting(
        stack,
        organizer={"address": "bob@acme.com"},
        subject="Doctor",
        sensitivity="private",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("dave@customer.com"),
    )
    meeting(
        stack,
        organizer={"address": "carol@acme.com"},
        subject="Offsite",
        start={"dateOnly": at(5)["dateTime"][:10]},
        end={"dateOnly": at(7)["dateTime"][:10]},
        meetingInfo=attendees("dave@customer.com"),
    )
    series = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Weekly",
        start=at(1, 9),
        end=at(1, 10),
        meetingInfo=attendees("dave@customer.com"),
        recurrence={
            "simple": {
                "pattern": {"frequency": "weekly"},
                "range": {"type": "numbered", "count": 4},
            }
        },
    )
    uid = series["iCalUid"]
    stack.aurinko(
        "POST",
        f"/_control/meetings/{uid}/occurrences",
        json={"type": "modified", "originalStart": at(8, 9), "start": at(9, 15), "end": at(9, 16)},
    ).raise_for_status()
    stack.aurinko(
        "POST",
        f"/_control/meetings/{uid}/occurrences",
        json={"type": "deleted", "originalStart": at(15, 9)},
    ).raise_for_status()

    settle(stack, users)
    events = crm_events(stack)
    subjects = sorted(e["subject"] for e in events)
    assert subjects == ["Offsite", "Quote review", "Weekly", "Weekly", "Weekly"], subjects
    (review,) = [e for e in events if e["subject"] == "Quote review"]
    assert sorted(a["emailAddress"] for a in review["attendees"]) == [
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
        "dave@customer.com",
    ]
    (offsite,) = [e for e in events if e["subject"] == "Offsite"]
    assert offsite["allDay"] is True
    assert offsite["startTime"][:10] == at(5)["dateTime"][:10]
    assert offsite["endTime"][:10] == at(7)["dateTime"][:10]
    moved_start = datetime.fromisoformat(at(9, 15)["dateTime"]).astimezone(UTC)
    assert any(
        datetime.fromisoformat(e["startTime"]) == moved_start
        for e in events
        if e["subject"] == "Weekly"
    )

    # A time change in the organizer's calendar reaches the CRM event.
    stack.aurinko(
        "PATCH", f"/_control/meetings/{m['iCalUid']}", json={"start": at(4), "end": at(4, 11)}
    ).raise_for_status()
    sync_round(stack, users["alice"]["id"], "calendar")
    (review,) = [e for e in crm_events(stack) if e["subject"] == "Quote review"]
    assert datetime.fromisoformat(review["startTime"]) == datetime.fromisoformat(at(4)["dateTime"])

    # A CRM-made event reaches its owner's calendar, and its deletion follows.
    made = crm_event(stack, "Demo call", 6, {"userId": "u-bob", "emailAddress": "bob@acme.com"})
    sync_round(stack, users["bob"]["id"], "calendar")
    assert [e["subject"] for e in mailbox(stack, users["bob"])].count("Demo call") == 1
    stack.crm("DELETE", f"/api/v1/events/{made['id']}").raise_for_status()
    sync_round(stack, users["bob"]["id"], "calendar")
    assert "Demo call" not in [e["subject"] for e in mailbox(stack, users["bob"])]

    # Quiet rounds (webhooks of our own writes included): nothing is written on either side.
    stack.aurinko("POST", "/_control/webhooks/flush", json={})
    for _ in range(2):
        settle(stack, users)
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")
    settle(stack, users)
    assert writes(stack) == {}
    assert len(crm_events(stack)) == 5


def test_one_excluded_attendee_keeps_a_meeting_out_of_the_crm(clean_stack):
    """Email's list and calendar's own both apply; an otherwise identical meeting syncs, and a
    synced one that gains an excluded attendee leaves the CRM."""
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(
        stack,
        settings={
            "email": {"excludeDomains": ["LawFirm.com"]},
            "calendar": {"excludeAddresses": ["Eve@Customer.com"]},
        },
    )
    users = {n: make_user(stack, org_id, f"{n}@acme.com", services=["calendar"]) for n in PEOPLE}
    team = ("bob@acme.com", "carol@acme.com")
    shown = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees(*team, "dave@customer.com"),
    )
    for subject, outsider in (
        ("With counsel", "counsel@eu.lawfirm.com"),
        ("With Eve", "eve@customer.com"),
    ):
        meeting(
            stack,
            organizer={"address": "alice@acme.com"},
            subject=subject,
            start=at(3),
            end=at(3, 11),
            meetingInfo=attendees(*team, "dave@customer.com", outsider),
        )

    settle(stack, users)
    assert sorted(e["subject"] for e in crm_events(stack)) == ["Quote review"]
    for _ in range(2):  # not later either, whoever's copy is read
        settle(stack, users)
    assert sorted(e["subject"] for e in crm_events(stack)) == ["Quote review"]

    # The synced meeting gains an excluded attendee: it leaves the CRM, like one turned private.
    stack.aurinko(
        "PATCH",
        f"/_control/meetings/{shown['iCalUid']}",
        json={"meetingInfo": attendees(*team, "dave@customer.com", "EVE@customer.com")},
    ).raise_for_status()
    settle(stack, users)
    assert crm_events(stack) == []


def test_a_meeting_with_a_lead_syncs_against_the_lead(clean_stack):
    """No contact, but a CRM lead: the meeting syncs related to the lead, and contact
    creation (on for everyone here, as a stranger's contact shows) makes none for her."""
    stack = clean_stack
    lena = {"firstName": "Lena", "lastName": "Lead", "emailAddresses": ["lena@leadco.io"]}
    [lead] = stack.crm("POST", "/_control/seed", json={"leads": [lena]}).json()["leads"]
    org_id = make_org(stack, settings={"email": {"contactCreation": "all"}})
    alice = make_user(stack, org_id, "alice@acme.com", services=["calendar"])
    for subject, guest in (("Demo", "lena@leadco.io"), ("Coffee", "zed@nowhere.io")):
        meeting(
            stack,
            organizer={"address": "alice@acme.com"},
            subject=subject,
            start=at(3),
            end=at(3, 11),
            meetingInfo=attendees(guest),
        )
    sync_round(stack, alice["id"], "calendar")
    events = {e["subject"]: e for e in crm_events(stack)}
    assert events["Demo"]["relatedTo"]["leads"] == [lead["id"]]
    assert events["Demo"]["relatedTo"]["contacts"] == []
    contacts = stack.crm("GET", "/_control/records/contacts").json()
    assert [c["emailAddresses"] for c in contacts] == [["zed@nowhere.io"]]
    assert events["Coffee"]["relatedTo"]["contacts"] == [contacts[0]["id"]]
    assert "leads" not in events["Coffee"]["relatedTo"]


def test_a_meeting_a_colleague_is_creating_waits_for_that_create_and_is_no_failure(clean_stack):
    """A colleague's worker is sending this very meeting's CRM event: the run does the rest,
    shows queued and healthy (not failing), and its follow-up makes the event once that
    create has ended (here its worker died: the hold lapses)."""
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    uid = "quote-review@acme.test"
    held_by_colleague = (
        CreateIntent.org_id == org_id,
        CreateIntent.kind == "event",
        CreateIntent.key == f"ical:{uid}",
    )
    with session_scope() as s:  # before any run can see the meeting
        now = utcnow()
        s.add(
            CreateIntent(
                org_id=org_id,
                kind="event",
                key=f"ical:{uid}",
                idempotency_key="bs-colleague",
                state="sending",
                attempts=1,
                busy_until=now + timedelta(minutes=5),
                created_at=now,
                updated_at=now,
            )
        )
    alice = make_user(stack, org_id, "alice@acme.com", services=["calendar"])
    meeting(
        stack,
        iCalUid=uid,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("dave@customer.com"),
    )

    def status() -> dict[str, Any]:
        return stack.admin("GET", f"/api/v1/users/{alice['id']}").json()["status"]["calendar"]

    r = stack.admin("POST", f"/api/v1/users/{alice['id']}/sync", json={"service": "calendar"})
    assert r.status_code == 202, r.text
    first = wait_for(
        lambda: (s := status())["counts"].get("waiting") and s["state"] != "running" and s,
        message="a run whose write waits",
    )
    assert first["health"] == "active" and first["lastError"] is None, first
    assert first["state"] == "queued", first  # its follow-up is due
    assert first["nextRunAt"] > first["lastSyncAt"], first
    assert crm_events(stack) == []

    with session_scope() as s:  # the colleague's worker died mid-create: its hold lapses
        s.execute(
            update(CreateIntent)
            .where(*held_by_colleague)
            .values(busy_until=utcnow() - timedelta(seconds=1))
        )
    done = wait_for(
        lambda: (s := status())["state"] == "idle" and crm_events(stack) and s,
        timeout=90,
        message="the follow-up run",
    )
    assert done["health"] == "active" and done["lastError"] is None, done
    (event,) = crm_events(stack)
    assert event["subject"] == "Quote review"
