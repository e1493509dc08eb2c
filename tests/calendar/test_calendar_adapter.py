"""The calendar adapter against the simulators (real HTTP, real database): what each side
reports and what each write does, for the calendar rules of the two-way sync.

The users here do not sync their calendars through the worker (services: email), so only the
adapter calls of each test touch the calendars; test_calendar_sync.py runs the whole sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from brightsync.calendar.adapter import CalendarAdapter
from brightsync.calendar.context import load_context
from brightsync.clients.http import PreconditionFailed
from brightsync.sync.adapter import CRM, MAILBOX
from tests.support.helpers import make_org, make_user, seed_contacts

BERLIN = ZoneInfo("Europe/Berlin")
DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
PEOPLE = ("alice", "bob", "carol")


def at(days: int, hour: int = 10) -> dict[str, str]:
    day = datetime.now(UTC).astimezone(BERLIN).date() + timedelta(days=days)
    local = datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)
    return {"dateTime": local.isoformat(), "timezone": "Europe/Berlin"}


def attendees(*addresses: str) -> dict:
    return {"attendees": [{"emailAddress": {"address": a}} for a in addresses]}


@pytest.fixture
def team(clean_stack):
    seed_contacts(clean_stack, DAVE)
    r = clean_stack.crm(
        "POST",
        "/_control/seed",
        json={"users": [{"id": f"u-{n}", "email": f"{n}@acme.com", "name": n} for n in PEOPLE]},
    )
    r.raise_for_status()
    org_id = make_org(clean_stack)
    users = {
        n: make_user(clean_stack, org_id, f"{n}@acme.com", services=["email"], crm_user_id=f"u-{n}")
        for n in PEOPLE
    }
    return clean_stack, users


def adapter(user) -> CalendarAdapter:
    return CalendarAdapter(load_context(user["id"]))


def meeting(stack, **body):
    r = stack.aurinko("POST", "/_control/meetings", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def crm_event(stack, subject: str, days: int, *people: dict[str, str]) -> dict:
    """An hour-long event made in the CRM `days` from now, on the hour."""
    start = (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    r = stack.crm(
        "POST",
        "/api/v1/events",
        json={
            "subject": subject,
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(hours=1)).isoformat(),
            "attendees": list(people),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def crm_events(stack):
    return stack.crm("GET", "/api/v1/events", params={"since": "2000-01-01T00:00:00Z"}).json()[
        "records"
    ]


def test_one_meeting_in_three_calendars_is_one_crm_event_and_follows_the_organizer(team):
    stack, users = team
    m = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        description="Agenda",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("bob@acme.com", "carol@acme.com", "dave@customer.com"),
        responses={"dave@customer.com": "tentitive"},
    )
    assert len(m["copies"]) == 3
    # The attendees' runs come first: one of them claims it, then the organizer takes over.
    seen = {n: adapter(users[n]).changes(MAILBOX, None) for n in ("bob", "carol")}
    assert sum(len(c.records) for c in seen.values()) == 1
    alice = adapter(users["alice"])
    changes = alice.changes(MAILBOX, None)
    (record,) = changes.records
    assert {len(adapter(users[n]).changes(MAILBOX, None).records) for n in ("bob", "carol")} == {0}
    assert record.fields["responses"][-1] == ["dave@customer.com", "tentative"]

    crm_before = alice.changes(CRM, None)
    created = alice.create(CRM, record.fields, "k1")
    # Quiet round: the mailbox reports nothing new; the CRM reports our own write back with
    # exactly the fields the create answered (so the core sees no change to echo).
    assert alice.changes(MAILBOX, changes.cursor).records == ()
    (echo,) = alice.changes(CRM, crm_before.cursor).records
    assert echo.id == created.id and echo.fields == created.fields
    (event,) = crm_events(stack)
    assert event["id"] == created.id
    by = {a["emailAddress"]: a for a in event["attendees"]}
    assert (
        by["alice@acme.com"]["userId"] == "u-alice" and event["attendees"][0]["userId"] == "u-alice"
    )
    assert by["dave@customer.com"]["contactId"] and by["dave@customer.com"]["status"] == "tentative"
    assert event["relatedTo"]["contacts"] == [by["dave@customer.com"]["contactId"]]
    assert created.fields["start"] == record.fields["start"]
    # A create whose answer was lost is found again, not repeated.
    assert alice.find(CRM, record.fields, "k1").id == created.id
    # The CRM event belongs to the organizer's side only.
    assert [r.id for r in alice.changes(CRM, None).records] == [created.id]
    assert adapter(users["bob"]).changes(CRM, None).records == ()

    # The organizer moves it: the delta reports the new time, the CRM takes the patch.
    stack.aurinko(
        "PATCH", f"/_control/meetings/{m['iCalUid']}", json={"start": at(4), "end": at(4, 11)}
    )
    moved = alice.changes(MAILBOX, changes.cursor)
    (again,) = moved.records
    assert again.fields["start"] != record.fields["start"]
    updated = alice.update(
        CRM, created.id, {"start": again.fields["start"], "end": again.fields["end"]}, None
    )
    assert updated.fields["start"] == again.fields["start"]
    assert crm_events(stack)[0]["startTime"].startswith(again.fields["start"][:16])


def test_a_colleagues_crm_read_asks_nothing_more_for_a_meeting_another_owns(team):
    """Whose CRM calendars an event is in matters only to the meeting's owner: a colleague's
    run reads the CRM's events without listing their own calendars for it."""
    stack, users = team
    meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Quote review",
        start=at(3),
        end=at(3, 11),
        meetingInfo=attendees("bob@acme.com", "carol@acme.com", "dave@customer.com"),
    )
    alice = adapter(users["alice"])
    (record,) = alice.changes(MAILBOX, None).records
    created = alice.create(CRM, record.fields, "k1")

    def crm_calls() -> dict[str, int]:
        ops = stack.crm("GET", "/_control/stats").json()["byOperation"]
        stack.crm("POST", "/_control/stats/reset")
        return ops

    crm_calls()
    for name in ("bob", "carol"):
        assert adapter(users[name]).changes(CRM, None).records == ()
        assert "calendars.list" not in crm_calls()
    assert [r.id for r in adapter(users["alice"]).changes(CRM, None).records] == [created.id]
    assert crm_calls().get("calendars.list", 0) >= 1  # the owner's calendars still decide


def test_crm_made_event_reaches_the_mailbox_and_private_all_day_and_412(team):
    stack, users = team
    bob = adapter(users["bob"])
    crm_event(
        stack,
        "Demo call",
        2,
        {"userId": "u-bob", "emailAddress": "bob@acme.com"},
        {"emailAddress": "dave@customer.com"},
    )
    crm = bob.changes(CRM, None)
    (record,) = crm.records
    assert adapter(users["alice"]).changes(CRM, None).records == ()
    made = bob.create(MAILBOX, record.fields, "k2")
    event = stack.aurinko("GET", f"/_control/accounts/{users['bob']['accountId']}/events").json()[
        "records"
    ][0]
    assert event["id"] == made.id and event["subject"] == "Demo call"
    assert made.fields["start"] == record.fields["start"]
    # A stale etag is refused: the core reloads and decides again.
    with pytest.raises(PreconditionFailed):
        bob.update(MAILBOX, made.id, {"subject": "Renamed"}, "stale-etag")
    renamed = bob.update(MAILBOX, made.id, {"subject": "Renamed"}, made.version)
    assert renamed.fields["subject"] == "Renamed"
    bob.delete(MAILBOX, made.id, renamed.version)
    assert (
        stack.aurinko("GET", f"/_control/accounts/{users['bob']['accountId']}/events").json()[
            "records"
        ]
        == []
    )

    # Private: skipped (and reported gone in case it was synced before).
    acct = users["carol"]["accountId"]
    private = stack.aurinko(
        "POST",
        f"/_control/accounts/{acct}/events",
        json={
            "subject": "Doctor",
            "sensitivity": "private",
            "start": at(1),
            "end": at(1, 11),
            "meetingInfo": attendees("dave@customer.com"),
        },
    ).json()
    all_day = stack.aurinko(
        "POST",
        f"/_control/accounts/{acct}/events",
        json={
            "subject": "Offsite",
            "start": {"dateOnly": at(5)["dateTime"][:10]},
            "end": {"dateOnly": at(6)["dateTime"][:10]},
            "meetingInfo": attendees("dave@customer.com"),
        },
    ).json()
    carol = adapter(users["carol"])
    changes = carol.changes(MAILBOX, None)
    assert [r.id for r in changes.records] == [all_day["id"]]
    assert private["id"] in changes.deleted
    fields = changes.records[0].fields
    assert fields["allDay"] and fields["end"] == at(6)["dateTime"][:10]
    created = carol.create(CRM, fields, "k3")
    stored = stack.crm("GET", f"/api/v1/events/{created.id}").json()
    assert stored["allDay"] is True and stored["startTime"].startswith(at(5)["dateTime"][:10])
    assert created.fields == {k: v for k, v in fields.items() if k != "meeting"}


def test_weekly_and_monthly_series_sync_their_occurrences_one_moved_one_cancelled(team):
    stack, users = team
    m = meeting(
        stack,
        organizer={"address": "alice@acme.com"},
        subject="Weekly",
        start=at(1),
        end=at(1, 11),
        meetingInfo=attendees("bob@acme.com", "dave@customer.com"),
        recurrence={
            "simple": {
                "pattern": {"frequency": "weekly"},
                "range": {"type": "numbered", "count": 4},
            }
        },
    )
    stack.aurinko(
        "POST",
        f"/_control/meetings/{m['iCalUid']}/occurrences",
        json={"type": "modified", "originalStart": at(8), "start": at(9, 15), "end": at(9, 16)},
    )
    stack.aurinko(
        "POST",
        f"/_control/meetings/{m['iCalUid']}/occurrences",
        json={"type": "deleted", "originalStart": at(15)},
    )
    changes = adapter(users["alice"]).changes(MAILBOX, None)
    keys = sorted(r.fields["meeting"] for r in changes.records)
    assert len(keys) == 3 and all(k.startswith(f"ical:{m['iCalUid']}|") for k in keys)
    moved = [
        r
        for r in changes.records
        if r.fields["meeting"].endswith(
            datetime.fromisoformat(at(8)["dateTime"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    ]
    assert (
        moved[0]
        .fields["start"]
        .startswith(
            datetime.fromisoformat(at(9, 15)["dateTime"]).astimezone(UTC).strftime("%Y-%m-%dT%H")
        )
    )
    assert any("#" in d for d in changes.deleted)  # the cancelled occurrence
    assert adapter(users["bob"]).changes(MAILBOX, None).records == ()

    # A relative monthly series ("the nth <weekday>", or the last one) expands too: three
    # occurrences a month apart, on that weekday, at 10:00 Berlin whatever the DST.
    first = datetime.fromisoformat(at(2)["dateTime"])
    instance = (
        "last"
        if (first + timedelta(days=7)).month != first.month
        else (("first", "second", "third", "fourth")[(first.day - 1) // 7])
    )
    monthly = meeting(
        stack,
        organizer={"address": "carol@acme.com"},
        subject="Monthly",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("dave@customer.com"),
        recurrence={
            "simple": {
                "pattern": {
                    "frequency": "monthlyRelative",
                    "daysOfWeek": [first.strftime("%A").lower()],
                    "instance": instance,
                },
                "range": {"type": "byCount", "count": 3},
            }
        },
    )
    starts = sorted(
        datetime.fromisoformat(r.fields["start"].replace("Z", "+00:00")).astimezone(BERLIN)
        for r in adapter(users["carol"]).changes(MAILBOX, None).records
        if r.fields["meeting"].startswith(f"ical:{monthly['iCalUid']}|")
    )
    assert len(starts) == 3 and starts[0] == first
    assert {(s.weekday(), s.hour) for s in starts} == {(first.weekday(), 10)}
    assert [(s.year * 12 + s.month) - (first.year * 12 + first.month) for s in starts] == [0, 1, 2]

    # A series edit updates every occurrence, and the moved and cancelled ones stay so.
    stack.aurinko("PATCH", f"/_control/meetings/{m['iCalUid']}", json={"subject": "Weekly sync"})
    edited = adapter(users["alice"]).changes(MAILBOX, changes.cursor)
    assert len(edited.records) == 3
    assert {r.fields["subject"] for r in edited.records if r.id != moved[0].id} == {"Weekly sync"}
    (still_moved,) = [r for r in edited.records if r.id == moved[0].id]
    assert still_moved.fields["start"] == moved[0].fields["start"]
    assert set(changes.deleted) & set(edited.deleted)


def test_a_meeting_with_nobody_known_waits_in_the_sync_cache_until_a_contact_appears(team):
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import retry_due

    stack, users = team
    meeting(
        stack,
        organizer={"address": "carol@acme.com"},
        subject="Intro",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("erin@prospect.io"),
    )
    carol = adapter(users["carol"])
    first = carol.changes(MAILBOX, None)
    assert first.records == ()
    org_id = users["carol"]["orgId"]
    (item,) = stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"]
    assert item["kind"] == "meeting" and item["addresses"] == ["erin@prospect.io"]
    why = stack.admin("GET", f"/api/v1/orgs/{org_id}/why/meeting", params={"key": item["key"]})
    assert why.status_code == 200, why.text
    assert why.json()["syncCache"]["addresses"] == ["erin@prospect.io"]
    assert why.json()["syncedBy"] == users["carol"]["id"]

    seed_contacts(
        stack, {"firstName": "Erin", "lastName": "P", "emailAddresses": ["erin@prospect.io"]}
    )
    assert retry_due(CACHE_KINDS, force=True)["matched"] == 1
    # Nothing changed in the calendar, yet the owner's next run reads the meeting again.
    (record,) = adapter(users["carol"]).changes(MAILBOX, first.cursor).records
    assert record.fields["subject"] == "Intro"
    assert adapter(users["carol"]).changes(MAILBOX, first.cursor).records == ()


def test_when_the_owner_drops_their_copy_a_colleague_inherits_the_meeting(team):
    stack, users = team
    m = meeting(
        stack,
        organizer={"address": "dave@customer.com"},
        subject="Their meeting",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("alice@acme.com", "bob@acme.com"),
    )
    alice, bob = adapter(users["alice"]), adapter(users["bob"])
    first = alice.changes(MAILBOX, None)
    (record,) = first.records
    created = alice.create(CRM, record.fields, "k4")
    bob_first = bob.changes(MAILBOX, None)
    assert bob_first.records == ()

    acct = users["alice"]["accountId"]
    stack.aurinko("DELETE", f"/_control/accounts/{acct}/events/{m['copies']['alice@acme.com']}")
    assert adapter(users["alice"]).changes(MAILBOX, first.cursor).deleted == ()
    bob = adapter(users["bob"])
    (inherited,) = bob.changes(MAILBOX, bob_first.cursor).records
    assert bob.create(CRM, inherited.fields, "k5").id == created.id
    assert len(crm_events(stack)) == 1


def test_contacts_are_auto_created_for_meetings_under_the_email_rules(clean_stack):
    org_id = make_org(clean_stack, settings={"email": {"contactCreation": "sent"}})
    ann = make_user(clean_stack, org_id, "ann@acme.com", services=["email"])
    meeting(
        clean_stack,
        organizer={"address": "ann@acme.com"},
        subject="Kick-off",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("frank.new@newco.io"),
    )
    (record,) = adapter(ann).changes(MAILBOX, None).records  # she invited him: created
    found = clean_stack.crm(
        "GET", "/api/v1/contacts/lookup", params={"emails": "frank.new@newco.io"}
    )
    assert [c["emailAddresses"] for c in found.json()] == [["frank.new@newco.io"]]
    assert record.fields["attendees"] == ["ann@acme.com", "frank.new@newco.io"]


def test_a_response_alone_reaches_the_crm_event_with_every_attendee_kept(team):
    """A patch of responses only (an attendee accepted in the mailbox; or what an adopted
    create holds beyond what was sent) used to fail for good on the attendee order, and the
    edits sent with it were lost."""
    stack, users = team
    made = crm_event(
        stack,
        "Pricing call",
        3,
        {"userId": "u-bob", "emailAddress": "bob@acme.com"},
        {"emailAddress": "dave@customer.com"},
    )
    bob = adapter(users["bob"])
    patch = {
        "subject": "Pricing call (moved)",
        "responses": [["bob@acme.com", "accepted"], ["dave@customer.com", "declined"]],
    }
    updated = bob.update(CRM, made["id"], patch, None)
    assert updated.fields["subject"] == "Pricing call (moved)"
    (event,) = [e for e in crm_events(stack) if e["id"] == made["id"]]
    by_address = {a["emailAddress"]: a for a in event["attendees"]}
    assert list(by_address) == ["bob@acme.com", "dave@customer.com"]  # the owner first
    assert by_address["bob@acme.com"]["userId"] == "u-bob"
    assert by_address["bob@acme.com"]["status"] == "accepted"
    assert by_address["dave@customer.com"]["contactId"]
    assert by_address["dave@customer.com"]["status"] == "declined"
