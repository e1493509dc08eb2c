from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from brightsync.calendar.mapping import (
    crm_fields,
    crm_payload,
    mailbox_fields,
    mailbox_payload,
    rsvp_to_crm,
    rsvp_to_mailbox,
)
from brightsync.calendar.meetings import LEAVES_CRM, CalendarPolicy, classify, meeting_key
from brightsync.calendar.recurrence import expand
from brightsync.calendar.times import crm_when, mailbox_when
from brightsync.crm.settings import effective_settings
from brightsync.email.rules import EmailPolicy
from brightsync.people.domains import is_excluded, normalize_addresses, normalize_domains

POLICY = CalendarPolicy(org_domains=("acme.com",))
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def att(address: str, response: str | None = None) -> dict:
    out: dict = {"emailAddress": {"address": address}, "type": "required"}
    if response:
        out["response"] = response
    return out


def meeting(**over) -> dict:
    event = {
        "id": "e1",
        "iCalUid": "uid-1@acme.com",
        "subject": "Quote review",
        "description": "Agenda",
        "location": "Room 1",
        "start": {"dateTime": "2026-03-10T10:00:00+01:00", "timezone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-10T11:00:00+01:00", "timezone": "Europe/Berlin"},
        "organizer": {"emailAddress": {"address": "alice@acme.com"}},
        "meetingInfo": {
            "attendees": [att("bob@acme.com", "tentitive"), att("dave@customer.com", "accepted")]
        },
    }
    event.update(over)
    return event


def test_rsvp_uses_the_api_spelling_both_ways():
    assert rsvp_to_crm("tentitive") == "tentative"
    assert rsvp_to_crm("Accepted") == "accepted"
    assert rsvp_to_crm(None) == "needsAction"
    for response in ("accepted", "tentitive", "declined"):
        assert rsvp_to_mailbox(rsvp_to_crm(response)) == response
    assert rsvp_to_mailbox("needsAction") is None


def test_which_events_sync():
    assert classify(meeting(), POLICY, "alice@acme.com").reason == "meeting"
    internal = meeting(meetingInfo={"attendees": [att("bob@acme.com")]})
    assert classify(internal, POLICY, "alice@acme.com").action == "skip"
    assert classify(
        internal, CalendarPolicy(("acme.com",), sync_internal=True), "alice@acme.com"
    ).syncs
    personal = meeting(meetingInfo={"attendees": []})
    assert classify(personal, POLICY, "alice@acme.com").reason == "personal"
    assert not classify(personal, POLICY, "alice@acme.com").syncs
    assert classify(
        personal, CalendarPolicy(("acme.com",), sync_personal=True), "alice@acme.com"
    ).syncs
    cancelled = meeting(meetingInfo={"canceled": True, "attendees": []})
    assert classify(cancelled, POLICY, "alice@acme.com").action == "cancel"
    assert classify({"subject": "no time"}, POLICY, "alice@acme.com").reason == "malformed"


def test_private_events_are_skipped_unless_the_org_syncs_them_and_then_carry_no_description():
    private = meeting(sensitivity="confidential")
    assert classify(private, POLICY, "alice@acme.com").reason == "private"
    allowed = CalendarPolicy(("acme.com",), sync_private=True)
    decision = classify(private, allowed, "alice@acme.com")
    assert decision.syncs and decision.private
    fields = mailbox_fields(private)
    assert fields["private"] is True and "description" not in fields
    body = crm_payload(fields)
    assert body["private"] is True and body["description"] is None
    assert "description" not in crm_fields({**body, "description": "leaked?"})


def excluded_by(settings: dict) -> str:
    return classify(
        meeting(), CalendarPolicy.from_settings(settings, ["acme.com"]), "alice@acme.com"
    ).reason


def test_one_excluded_attendee_keeps_the_meeting_out_by_domain_or_address_any_case():
    assert excluded_by({}) == "meeting"
    assert excluded_by({"email": {"excludeDomains": ["Customer.COM"]}}) == "excluded"
    assert excluded_by({"email": {"excludeDomains": ["other.com"]}}) == "meeting"
    assert excluded_by({"email": {"excludeAddresses": ["DAVE@customer.com"]}}) == "excluded"
    assert excluded_by({"email": {"excludeAddresses": ["eve@customer.com"]}}) == "meeting"
    # A domain covers its subdomains; a colleague or the organizer counts like anyone.
    cal = meeting(meetingInfo={"attendees": [att("dave@eu.customer.com"), att("bob@acme.com")]})
    policy = CalendarPolicy.from_settings({"email": {"excludeDomains": ["customer.com"]}}, None)
    assert classify(cal, policy, "alice@acme.com").reason == "excluded"
    policy = CalendarPolicy.from_settings(
        {"calendar": {"excludeAddresses": ["Alice@acme.com"]}}, None
    )
    assert classify(meeting(), policy, "bob@acme.com").reason == "excluded"
    # Rooms are not people: an excluded room address does not count.
    room = {"emailAddress": {"address": "room@customer.com"}, "type": "resource"}
    roomed = meeting(meetingInfo={"attendees": [att("dave@other.com"), room]})
    policy = CalendarPolicy.from_settings(
        {"email": {"excludeAddresses": ["room@customer.com"]}}, None
    )
    assert classify(roomed, policy, "alice@acme.com").syncs
    # Excluded beats every "sync anyway" setting, and a synced meeting leaves the CRM.
    private = meeting(sensitivity="private")
    policy = CalendarPolicy.from_settings(
        {"calendar": {"syncPrivate": True}, "email": {"excludeDomains": ["customer.com"]}}, None
    )
    assert classify(private, policy, "alice@acme.com").reason == "excluded"
    assert "excluded" in LEAVES_CRM


def test_calendar_exclusions_add_to_the_email_lists():
    both = {
        "email": {"excludeDomains": ["law.com"], "excludeAddresses": ["ceo@y.com"]},
        "calendar": {"excludeDomains": ["customer.com"], "excludeAddresses": ["x@z.com"]},
    }
    policy = CalendarPolicy.from_settings(both, ["acme.com"])
    assert policy.exclude_domains == ("law.com", "customer.com")
    assert policy.exclude_addresses == frozenset({"ceo@y.com", "x@z.com"})
    assert excluded_by({"calendar": {"excludeDomains": ["customer.com"]}}) == "excluded"
    assert excluded_by({"calendar": {"excludeAddresses": ["dave@customer.com"]}}) == "excluded"
    # An empty (or junk) calendar list does not lift the email one.
    assert (
        excluded_by(
            {"email": {"excludeDomains": ["customer.com"]}, "calendar": {"excludeDomains": []}}
        )
        == "excluded"
    )
    assert excluded_by({"calendar": {"excludeDomains": 7, "excludeAddresses": {"a": 1}}}) == (
        "meeting"
    )
    # The effective (defaulted) settings shape works as well as a sparse one.
    assert excluded_by(effective_settings({"calendar": {"excludeDomains": ["customer.com"]}})) == (
        "excluded"
    )
    assert excluded_by(effective_settings({})) == "meeting"
    # Only the calendar part given: only its own lists are known.
    assert CalendarPolicy.from_settings(both["calendar"], None).exclude_domains == ("customer.com",)


def test_email_and_calendar_share_one_exclusion_rule():
    lists = {"excludeDomains": ["customer.com"], "excludeAddresses": ["ceo@y.com"]}
    email = EmailPolicy.from_settings(lists, None)
    calendar = CalendarPolicy.from_settings({"calendar": lists}, None)
    for address in ("dave@customer.com", "a@eu.customer.com", "ceo@y.com", "x@y.com", "a@b.c"):
        assert email.is_excluded(address) == calendar.is_excluded(address)
        assert email.is_excluded(address) == is_excluded(
            address,
            normalize_domains(lists["excludeDomains"]),
            normalize_addresses(lists["excludeAddresses"]),
        )
    assert normalize_addresses(["Dave <DAVE@Customer.com>", "junk", 3]) == {"dave@customer.com"}
    assert normalize_addresses("a@b.com") == {"a@b.com"}
    assert normalize_addresses(None) == frozenset()


def test_mapping_round_trips_through_the_crm_and_the_attendee_statuses_follow():
    fields = mailbox_fields(meeting())
    assert fields["start"] == "2026-03-10T09:00:00Z" and fields["end"] == "2026-03-10T10:00:00Z"
    assert fields["responses"] == [
        ["alice@acme.com", "accepted"],
        ["bob@acme.com", "tentative"],
        ["dave@customer.com", "accepted"],
    ]
    body = crm_payload(fields, users={"bob@acme.com": "u2"}, contacts={"dave@customer.com": "c9"})
    by = {a["emailAddress"]: a for a in body["attendees"]}
    assert by["bob@acme.com"]["userId"] == "u2" and by["dave@customer.com"]["contactId"] == "c9"
    assert crm_fields(body) == fields


@settings(deadline=None)  # a loaded CI machine must not fail a pure function
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    st.integers(0, 48 * 60),
    st.sampled_from(ZONES),
)
@example(datetime(2010, 3, 14, 2, 30), 60, "America/New_York")  # inside a DST gap
def test_time_zones_are_kept_exactly_through_both_sides(local, minutes, zone):
    tz = ZoneInfo(zone)
    # Through UTC and back: a wall time in a DST gap (02:30 on a spring-forward day) does
    # not exist, and no calendar sends one.
    start = local.replace(second=0, microsecond=0, tzinfo=tz).astimezone(UTC).astimezone(tz)
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(tz)
    event = meeting(
        start={"dateTime": start.isoformat(), "timezone": zone},
        end={"dateTime": end.isoformat(), "timezone": zone},
    )
    fields = mailbox_fields(event)
    assert crm_fields(crm_payload(fields)) == fields
    written = mailbox_payload(fields, timezone=zone)
    assert written["start"]["timezone"] == zone
    again = datetime.fromisoformat(written["start"]["dateTime"])
    assert again == start and again.utcoffset() == start.astimezone(tz).utcoffset()
    reread = mailbox_fields({**event, "start": written["start"], "end": written["end"]})
    assert reread == fields


@settings(deadline=None)  # a loaded CI machine must not fail a pure function
@given(st.dates(date(2000, 1, 1), date(2040, 1, 1)), st.integers(1, 40))
def test_all_day_events_have_no_off_by_one(first, days):
    last = first + timedelta(days=days)  # exclusive, as the mailbox sends it
    event = meeting(start={"dateOnly": first.isoformat()}, end={"dateOnly": last.isoformat()})
    fields = mailbox_fields(event)
    assert fields["allDay"] and (fields["start"], fields["end"]) == (
        first.isoformat(),
        last.isoformat(),
    )
    body = crm_payload(fields)
    assert body["allDay"] is True and crm_fields(body) == fields
    assert mailbox_payload(fields, timezone="Europe/Berlin")["end"] == {
        "dateOnly": last.isoformat()
    }
    # A connector that stores the last day itself (inclusive: a time on it, or the first day
    # at midnight) means the same days; a later midnight is an exclusive end.
    inclusive = last - timedelta(days=1)
    for end_time in (f"{inclusive}T00:00:00+00:00", f"{inclusive}T23:59:59+00:00"):
        if inclusive == first or end_time.endswith("23:59:59+00:00"):
            got = crm_when({"allDay": True, "startTime": body["startTime"], "endTime": end_time})
            assert (got.start, got.end) == (first.isoformat(), last.isoformat())


def test_a_one_day_all_day_event_stays_one_day():
    when = mailbox_when({"start": {"dateOnly": "2026-03-03"}, "end": {"dateOnly": "2026-03-03"}})
    assert (when.start, when.end) == ("2026-03-03", "2026-03-04")
    crm = crm_when(
        {
            "allDay": True,
            "startTime": "2026-03-03T00:00:00+01:00",
            "endTime": "2026-03-03T00:00:00+01:00",
        }
    )
    assert (crm.start, crm.end) == ("2026-03-03", "2026-03-04")


def test_every_copy_of_a_meeting_has_one_key_and_occurrences_their_own():
    alice, bob = meeting(id="a1"), meeting(id="b7", etag="x")
    assert meeting_key(alice) == meeting_key(bob) == "ical:uid-1@acme.com"
    occ = meeting(occurrenceInfo={"originalStart": {"dateTime": "2026-03-17T10:00:00+01:00"}})
    assert meeting_key(occ) == "ical:uid-1@acme.com|2026-03-17T09:00:00Z"
    no_uid = {k: v for k, v in alice.items() if k != "iCalUid"}
    same = {**no_uid, "id": "zz", "meetingInfo": {}}
    assert meeting_key(no_uid) == meeting_key(same) and meeting_key(no_uid).startswith("fp:")
    assert meeting_key({**no_uid, "subject": "Other"}) != meeting_key(no_uid)


def weekly(**over) -> dict:
    simple = {"pattern": {"frequency": "weekly", "interval": 1}, "range": {"type": "noEnd"}}
    return meeting(
        **{"id": "m1", "recurrenceType": "master", "recurrence": {"simple": simple}, **over}
    )


WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC))


def test_a_weekly_series_keeps_its_wall_time_across_dst():
    occurrences = expand(weekly(), [], WINDOW)
    starts = [datetime.fromisoformat(o["start"]["dateTime"]) for o in occurrences]
    assert len(starts) == 8  # 10 Mar .. 28 Apr
    assert all(s.astimezone(ZoneInfo("Europe/Berlin")).hour == 10 for s in starts)
    utc_hours = {s.astimezone(UTC).hour for s in starts}
    assert utc_hours == {9, 8}  # CET, then CEST from 29 March
    keys = {meeting_key(o) for o in occurrences}
    assert len(keys) == 8


def test_series_exceptions_follow_and_the_series_is_bounded():
    moved = meeting(
        id="m1_x",
        recurrenceType="occurrence",
        start={"dateTime": "2026-03-18T15:00:00+01:00", "timezone": "Europe/Berlin"},
        end={"dateTime": "2026-03-18T16:00:00+01:00", "timezone": "Europe/Berlin"},
        occurrenceInfo={
            "type": "modified",
            "originalStart": {"dateTime": "2026-03-17T10:00:00+01:00", "timezone": "Europe/Berlin"},
        },
    )
    gone = {
        "id": "m1_y",
        "recurrenceType": "occurrence",
        "occurrenceInfo": {
            "type": "deleted",
            "originalStart": {"dateTime": "2026-03-24T10:00:00+01:00"},
        },
        "start": {"dateTime": "2026-03-24T10:00:00+01:00"},
    }
    out = expand(weekly(), [moved, gone], WINDOW)
    by_key = {meeting_key(o): o for o in out}
    assert by_key["ical:uid-1@acme.com|2026-03-17T09:00:00Z"]["start"]["dateTime"].startswith(
        "2026-03-18T15"
    )
    cancelled = by_key["ical:uid-1@acme.com|2026-03-24T09:00:00Z"]
    assert classify(cancelled, POLICY, "alice@acme.com").action == "cancel"
    assert len(expand(weekly(), [], WINDOW, limit=3)) == 3
    counted = weekly(
        recurrence={
            "simple": {"pattern": {"frequency": "daily"}, "range": {"type": "numbered", "count": 4}}
        }
    )
    assert len(expand(counted, [], WINDOW)) == 4
    unknown = {"simple": {"pattern": {"frequency": "hourly"}}}
    assert expand(meeting(recurrence=unknown), [], WINDOW) is None


def series(start: str, zone: str, pattern: dict, rng: dict | None = None) -> dict:
    """A one-hour series master starting at the wall time `start` in `zone`."""
    local = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))
    simple = {"pattern": pattern, "range": rng or {"type": "unbounded"}}
    return meeting(
        id="m2",
        recurrenceType="master",
        recurrence={"simple": simple},
        start={"dateTime": local.isoformat(), "timezone": zone},
        end={"dateTime": (local + timedelta(hours=1)).isoformat(), "timezone": zone},
    )


def walls(occurrences: list[dict], zone: str = "Europe/Berlin") -> list[str]:
    """Each occurrence's start as wall time in `zone`, minutes precision."""
    return [
        datetime.fromisoformat(o["start"]["dateTime"]).astimezone(ZoneInfo(zone)).isoformat()[:16]
        for o in occurrences
    ]


def span(first: str, last: str) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(f"{first}T00:00:00+00:00"), datetime.fromisoformat(
        f"{last}T00:00:00+00:00"
    )


def test_a_monthly_series_on_the_31st_falls_on_short_months_last_day_across_dst():
    master = series("2026-01-31T10:00", "Europe/Berlin", {"frequency": "monthly", "dayOfMonth": 31})
    out = expand(master, [], span("2026-01-01", "2026-07-01"))
    assert walls(out) == [
        "2026-01-31T10:00",
        "2026-02-28T10:00",
        "2026-03-31T10:00",  # CEST from 29 March: 08:00 UTC, still 10:00 in Berlin
        "2026-04-30T10:00",
        "2026-05-31T10:00",
        "2026-06-30T10:00",
    ]
    assert out[1]["start"]["dateTime"].endswith("+01:00")
    assert out[2]["start"]["dateTime"].endswith("+02:00")
    assert meeting_key(out[2]) == "ical:uid-1@acme.com|2026-03-31T08:00:00Z"
    assert len({meeting_key(o) for o in out}) == 6
    assert all(o["occurrenceInfo"]["masterId"] == "m2" for o in out)


def test_relative_monthly_series_last_friday_and_every_other_second_tuesday():
    last_friday = {"frequency": "monthlyRelative", "daysOfWeek": ["friday"], "instance": "last"}
    master = series("2026-01-30T09:30", "Europe/Berlin", last_friday)
    expected = ["2026-01-30T09:30", "2026-02-27T09:30", "2026-03-27T09:30", "2026-04-24T09:30"]
    assert walls(expand(master, [], span("2026-01-01", "2026-05-01"))) == expected
    # The Graph spellings (relativeMonthly, index) read the same.
    graph = {"frequency": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"}
    graph_master = series("2026-01-30T09:30", "Europe/Berlin", graph)
    assert walls(expand(graph_master, [], span("2026-01-01", "2026-05-01"))) == expected
    second_tuesday = {
        "frequency": "monthlyRelative",
        "interval": 2,
        "daysOfWeek": ["tuesday"],
        "instance": "second",
    }
    master = series("2026-03-10T10:00", "Europe/Berlin", second_tuesday)
    assert walls(expand(master, [], span("2026-03-01", "2026-10-01"))) == [
        "2026-03-10T10:00",
        "2026-05-12T10:00",
        "2026-07-14T10:00",
        "2026-09-08T10:00",
    ]


def test_yearly_series_absolute_and_relative_with_a_count_from_the_series_start():
    leap_day = series("2024-02-29T12:00", "UTC", {"frequency": "yearly", "monthOfYear": 2})
    assert walls(expand(leap_day, [], span("2024-01-01", "2029-01-01")), "UTC") == [
        "2024-02-29T12:00",
        "2025-02-28T12:00",
        "2026-02-28T12:00",
        "2027-02-28T12:00",
        "2028-02-29T12:00",
    ]
    thanksgiving = {
        "frequency": "yearlyRelative",
        "monthOfYear": 11,
        "daysOfWeek": ["thursday"],
        "instance": "fourth",
    }
    master = series(
        "2025-11-27T16:00", "America/New_York", thanksgiving, {"type": "byCount", "count": 3}
    )
    # Three in all, counted from 2025: the window from 2026 sees the last two only.
    out = expand(master, [], span("2026-01-01", "2031-01-01"))
    assert walls(out, "America/New_York") == ["2026-11-26T16:00", "2027-11-25T16:00"]
    every_two = series("2026-03-10T10:00", "Europe/Berlin", {"frequency": "yearly", "interval": 2})
    assert walls(expand(every_two, [], span("2026-01-01", "2031-01-01"))) == [
        "2026-03-10T10:00",
        "2028-03-10T10:00",
        "2030-03-10T10:00",
    ]


def test_weekly_interval_end_date_exclusions_and_all_day_series():
    pattern = {"frequency": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "thursday"]}
    excluded = {"dateTime": "2026-03-24T10:00:00+01:00", "timezone": "Europe/Berlin"}
    rng = {"type": "byDate", "recurrenceEnd": "2026-04-07", "patternExclusions": [excluded]}
    out = expand(series("2026-03-10T10:00", "Europe/Berlin", pattern, rng), [], WINDOW)
    assert walls(out) == [
        "2026-03-10T10:00",
        "2026-03-12T10:00",
        "2026-03-24T10:00",
        "2026-03-26T10:00",
        "2026-04-07T10:00",  # the end date is inclusive
    ]
    assert [classify(o, POLICY, "alice@acme.com").action for o in out].count("cancel") == 1
    assert out[2]["occurrenceInfo"]["type"] == "deleted"

    monthly_all_day = meeting(
        id="m3",
        recurrenceType="master",
        start={"dateOnly": "2026-01-15"},
        end={"dateOnly": "2026-01-16"},
        recurrence={"simple": {"pattern": {"frequency": "monthly"}, "range": {"type": "noEnd"}}},
    )
    out = expand(monthly_all_day, [], WINDOW)
    assert [(o["start"], o["end"]) for o in out] == [
        ({"dateOnly": "2026-03-15"}, {"dateOnly": "2026-03-16"}),
        ({"dateOnly": "2026-04-15"}, {"dateOnly": "2026-04-16"}),
    ]
    assert meeting_key(out[0]) == "ical:uid-1@acme.com|2026-03-15"


def test_a_series_given_as_ical_rules_only_is_read_from_them():
    def ical(*rules: str, **over) -> dict:
        recurrence = {"original": "ical", "ical": {"rules": list(rules)}}
        return meeting(id="m4", recurrenceType="master", recurrence=recurrence, **over)

    # The last Friday until 1 May 10:00 Berlin (08:00 UTC), 27 March excluded: across DST.
    master = ical(
        "RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20260501T080000Z",
        "EXDATE;TZID=Europe/Berlin:20260327T100000",
        start={"dateTime": "2026-02-27T10:00:00+01:00", "timezone": "Europe/Berlin"},
        end={"dateTime": "2026-02-27T11:00:00+01:00", "timezone": "Europe/Berlin"},
    )
    out = expand(master, [], span("2026-01-01", "2026-07-01"))
    assert walls(out) == ["2026-02-27T10:00", "2026-03-27T10:00", "2026-04-24T10:00"]
    assert out[2]["start"]["dateTime"] == "2026-04-24T10:00:00+02:00"
    # An excluded date is a cancelled occurrence (as a pattern exclusion), so a synced copy
    # leaves the CRM.
    cancelled = [o["occurrenceInfo"]["type"] == "deleted" for o in out]
    assert cancelled == [False, True, False]
    # A floating EXDATE is read as wall time in the series' zone, a UTC one as an instant.
    weekly_rules = ical(
        "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20260317T100000", "EXDATE:20260324T090000Z"
    )
    out = expand(weekly_rules, [], WINDOW)
    assert [o["occurrenceInfo"]["type"] for o in out] == [
        "regular",
        "deleted",
        "deleted",
        "regular",
    ]
    all_day = ical(
        "RRULE:FREQ=YEARLY;UNTIL=20280101",
        start={"dateOnly": "2026-03-15"},
        end={"dateOnly": "2026-03-16"},
    )
    out = expand(all_day, [], span("2026-01-01", "2030-01-01"))
    assert [o["start"] for o in out] == [{"dateOnly": "2026-03-15"}, {"dateOnly": "2027-03-15"}]
    assert expand(ical("EXDATE:20260317T100000"), [], WINDOW) is None
    assert expand(ical("RRULE:FREQ=SOMETIMES"), [], WINDOW) is None
    assert expand(ical("RRULE:FREQ=SECONDLY"), [], WINDOW) is None
    # Read as the simple pattern it is: 30 February falls on the month's last day (rrule alone
    # would walk to the year 9999 looking for one), and BYMONTHDAY=-1 is the last day.
    feb_30 = ical("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2")
    assert walls(expand(feb_30, [], span("2026-01-01", "2030-01-01"))) == [
        "2027-02-28T10:00",
        "2028-02-29T10:00",
    ]
    month_end = ical("RRULE:FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1;UNTIL=20260601")
    assert walls(expand(month_end, [], WINDOW)) == ["2026-03-31T10:00"]
    # Not a simple form (every Monday of every month; two rules): not guessed at.
    for unsimple in (
        "RRULE:FREQ=MONTHLY;BYDAY=MO",
        "RRULE:FREQ=DAILY;BYDAY=MO,TU",
        "RRULE:FREQ=YEARLY;BYMONTHDAY=15",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=-2",
        "RRULE:FREQ=YEARLY;BYMONTH=13",
        "RRULE:FREQ=WEEKLY;BYDAY=1MO",
        "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5",
    ):
        assert expand(ical(unsimple), [], WINDOW) is None, unsimple
    two = ical("RRULE:FREQ=WEEKLY", "RRULE:FREQ=MONTHLY")
    assert expand(two, [], WINDOW) is None


def test_a_patch_with_one_bound_writes_that_bound_only():
    assert crm_payload({"start": "2026-03-10T09:00:00Z"}) == {
        "startTime": "2026-03-10T09:00:00+00:00"
    }
    assert crm_payload({"end": "2026-03-11", "allDay": True}) == {
        "endTime": "2026-03-11T00:00:00+00:00",
        "allDay": True,
    }
    body = mailbox_payload({"end": "2026-03-10T10:30:00Z"}, timezone="Europe/Berlin")
    assert body == {"end": {"dateTime": "2026-03-10T11:30:00+01:00", "timezone": "Europe/Berlin"}}
    assert mailbox_payload({"start": "2026-03-10"}, timezone=None) == {
        "start": {"dateOnly": "2026-03-10"}
    }


@settings(deadline=None)  # a loaded CI machine must not fail a pure function
@given(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)),
    st.sampled_from(ZONES),
    st.sampled_from(["daily", "weekly", "monthly", "monthlyRelative", "yearly", "yearlyRelative"]),
    st.integers(1, 3),
    st.integers(1, 60),
    st.fixed_dictionaries(
        {},
        optional={
            "daysOfWeek": st.lists(
                st.sampled_from(["monday", "wednesday", "friday", "sunday"]), min_size=1
            ),
            "dayOfMonth": st.integers(1, 31),
            "monthOfYear": st.integers(1, 12),
            "instance": st.sampled_from(["first", "second", "third", "fourth", "last"]),
            "weekStart": st.sampled_from(["monday", "sunday"]),
        },
    ),
    st.one_of(st.none(), st.integers(1, 30)),
)
def test_series_expansion_keeps_wall_time_stays_in_the_window_and_is_bounded(
    local, zone, frequency, interval, limit, details, count
):
    tz = ZoneInfo(zone)
    start = local.replace(minute=0, second=0, microsecond=0, tzinfo=tz)
    pattern = {"frequency": frequency, "interval": interval, **details}
    rng = {"type": "byCount", "count": count} if count else {"type": "unbounded"}
    simple = {"pattern": pattern, "range": rng}
    master = meeting(
        id="s1",
        recurrenceType="master",
        recurrence={"simple": simple},
        start={"dateTime": start.isoformat(), "timezone": zone},
        end={"dateTime": (start + timedelta(hours=1)).isoformat(), "timezone": zone},
    )
    lo = start.astimezone(UTC) + timedelta(days=20)
    window = (lo, lo + timedelta(days=400))
    out = expand(master, [], window, limit)
    assert len(out) <= limit
    # A count counts from the series start: the whole series holds no more than it, and the
    # window sees exactly the whole series' occurrences that overlap it (up to the limit).
    whole = expand(master, [], (start - timedelta(days=1), window[1]), 10_000)
    assert count is None or len(whole) <= count
    overlapping = [
        meeting_key(o)
        for o in whole
        if window[0] < datetime.fromisoformat(o["start"]["dateTime"]) + timedelta(hours=1)
    ]
    assert [meeting_key(o) for o in out] == overlapping[:limit]
    keys = [meeting_key(o) for o in out]
    assert len(set(keys)) == len(keys)
    for occ in out:
        begins = datetime.fromisoformat(occ["start"]["dateTime"])
        assert window[0] < begins + timedelta(hours=1) and begins < window[1]
        wall = begins.astimezone(tz)
        # Wall time is kept, except when it does not exist that day (a DST gap moves it).
        assert (wall.hour, wall.minute) == (start.hour, start.minute) or wall.utcoffset() != (
            start.utcoffset()
        )
