"""Which calendar events sync, and how an event maps between mailbox and CRM (pure).

Everything here works on Aurinko Event dicts and CRM event dicts whose every field may be
missing or of the wrong type: a malformed event is skipped with a reason, never a crash.

The common field vocabulary (what the two-way core compares; JSON-plain values, lists not
tuples, so a value read back from storage compares equal):

- ``subject``, ``location``: strings ('' when none);
- ``description``: string; absent on a private event (the CRM copy carries none);
- ``allDay``: bool; ``start`` / ``end``: for timed events the UTC instant
  ``YYYY-MM-DDTHH:MM:SSZ``, for all-day events the date ``YYYY-MM-DD`` with an **exclusive**
  end (a one-day event on 3 March ends on 4 March, as the mailbox's ``end.dateOnly``);
- ``private``: bool;
- ``attendees``: sorted attendee addresses; ``responses``: sorted ``[address, status]`` pairs
  in the CRM's spelling (accepted, tentative, declined, needsAction). Responses are read-only
  in the mailbox (each attendee answers in their own calendar), so they flow to the CRM only.

The time zone is not part of the vocabulary (the CRM has none): the mailbox event keeps its
own IANA zone and every write converts the instant into it, so 10:00 Europe/Berlin stays
10:00 Europe/Berlin on both sides of a DST change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule

from brightsync.people.addresses import normalize_address
from brightsync.people.domains import in_domains, normalize_domains

SENSITIVE = frozenset({"private", "personal", "confidential"})
MAX_OCCURRENCES = 52  # per series and window: a daily series for years must stay bounded
MAX_KEY_LENGTH = 400

# Aurinko attendee response (spelled "tentitive" by the API) <-> CRM attendee status.
_TO_CRM = {
    "accepted": "accepted",
    "tentitive": "tentative",
    "tentative": "tentative",
    "declined": "declined",
}
_TO_MAILBOX = {"accepted": "accepted", "tentative": "tentitive", "declined": "declined"}
NEEDS_ACTION = "needsAction"

# Skip reasons.
SKIP_MALFORMED = "malformed"
SKIP_PRIVATE = "private"
SKIP_PERSONAL = "personal"  # nobody else invited
SKIP_INTERNAL = "internal"  # colleagues only
CANCELLED = "cancelled"
# Skips that take an already synced event out of the CRM (the others only keep new ones out).
LEAVES_CRM = frozenset({SKIP_MALFORMED, SKIP_PRIVATE})


# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarPolicy:
    """The organisation's calendar settings (see crm/settings.py) plus its domains."""

    org_domains: tuple[str, ...] = ()
    sync_private: bool = False
    sync_internal: bool = False
    sync_personal: bool = False
    past_days: int = 30
    future_days: int = 180
    max_occurrences: int = MAX_OCCURRENCES

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, domains: Iterable[str] | None
    ) -> CalendarPolicy:
        cal = settings if isinstance(settings, Mapping) else {}
        if isinstance(cal.get("calendar"), Mapping):
            cal = cal["calendar"]
        return cls(
            org_domains=normalize_domains(domains),
            sync_private=cal.get("syncPrivate") is True,
            sync_internal=cal.get("syncInternal") is True,
            sync_personal=cal.get("syncPersonal") is True,
            past_days=_int(cal.get("pastDays"), 30),
            future_days=_int(cal.get("futureDays"), 180),
        )

    def is_internal(self, address: str) -> bool:
        return bool(self.org_domains) and in_domains(address.rsplit("@", 1)[-1], self.org_domains)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(days=self.past_days), now + timedelta(days=self.future_days)


def _int(value: object, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


# --- RSVP -------------------------------------------------------------------------------------


def rsvp_to_crm(response: object) -> str:
    """An Aurinko attendee response as the CRM's status; no answer yet is needsAction."""
    if isinstance(response, str):
        return _TO_CRM.get(response.strip().lower(), NEEDS_ACTION)
    return NEEDS_ACTION


def rsvp_to_mailbox(status: object) -> str | None:
    """A CRM status in Aurinko's spelling ("tentitive"); None for no answer."""
    if isinstance(status, str):
        return _TO_MAILBOX.get(status.strip().lower())
    return None


# --- times ------------------------------------------------------------------------------------


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _instant(value: object, zone: ZoneInfo | None = None) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 string; a naive one is read in `zone` (or UTC)."""
    if not isinstance(value, str) or len(value.strip()) <= 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return parsed.astimezone(UTC)


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class When:
    """An event's time in the common vocabulary, plus the mailbox's zone (None: UTC/unknown)."""

    start: str
    end: str
    all_day: bool
    timezone: str | None = None

    def start_instant(self) -> datetime:
        if self.all_day:
            return datetime.combine(date.fromisoformat(self.start), time(), UTC)
        return datetime.fromisoformat(self.start.replace("Z", "+00:00"))


def mailbox_when(event: Mapping[str, Any]) -> When | None:
    """The time of an Aurinko event; None when it has no usable start."""
    start, end = event.get("start"), event.get("end")
    if not isinstance(start, Mapping):
        return None
    end = end if isinstance(end, Mapping) else {}
    if start.get("dateOnly"):
        first = _date(start.get("dateOnly"))
        if first is None:
            return None
        last = _date(end.get("dateOnly")) or _date(end.get("dateTime"))
        if last is None or last <= first:
            last = first + timedelta(days=1)  # the end date is exclusive: at least one day
        return When(first.isoformat(), last.isoformat(), True)
    zone_name = start.get("timezone")
    zone = _zone(zone_name)
    begins = _instant(start.get("dateTime"), zone)
    if begins is None:
        return None
    ends = _instant(end.get("dateTime"), _zone(end.get("timezone")) or zone)
    if ends is None or ends < begins:
        ends = begins
    return When(utc_text(begins), utc_text(ends), False, zone_name if zone else None)


def mailbox_times(when: When, timezone: str | None) -> dict[str, dict[str, str]]:
    """`start` / `end` for an Aurinko write, in `timezone` (the event's own zone) when known."""
    if when.all_day:
        return {"start": {"dateOnly": when.start}, "end": {"dateOnly": when.end}}
    zone = _zone(timezone)
    out = {}
    for key, value in (("start", when.start), ("end", when.end)):
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if zone is not None:
            local = instant.astimezone(zone)
            out[key] = {"dateTime": local.isoformat(), "timezone": str(timezone)}
        else:
            out[key] = {"dateTime": instant.isoformat(), "timezone": "UTC"}
    return out


def _offset(value: str) -> str:
    return value.replace("Z", "+00:00")


def crm_when(event: Mapping[str, Any]) -> When | None:
    """The time of a CRM event. An all-day event's dates are read as written (not moved to
    UTC). An end at midnight after the first day is exclusive (as the mailbox's); an end on
    the first day, or at a time within a day, names the last day itself (inclusive)."""
    start_text, end_text = event.get("startTime"), event.get("endTime")
    if event.get("allDay") is True:
        first = _date(start_text)
        if first is None:
            return None
        last = _date(end_text)
        at_midnight = isinstance(end_text, str) and end_text[11:19] in ("", "00:00:00")
        if last is None or last < first:
            last = first
        if last == first or not at_midnight:
            last = last + timedelta(days=1)
        return When(first.isoformat(), last.isoformat(), True)
    begins = _instant(start_text)
    if begins is None:
        return None
    ends = _instant(end_text)
    if ends is None or ends < begins:
        ends = begins
    return When(utc_text(begins), utc_text(ends), False)


# --- the meeting key --------------------------------------------------------------------------


def _address_of(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("address") if "address" in value else value.get("emailAddress")
        if isinstance(value, Mapping):
            value = value.get("address")
    return normalize_address(value) if isinstance(value, str) else None


def organizer_of(event: Mapping[str, Any]) -> str | None:
    organizer = event.get("organizer")
    return _address_of(organizer.get("emailAddress")) if isinstance(organizer, Mapping) else None


def original_start(event: Mapping[str, Any]) -> str | None:
    """An occurrence's original start (UTC instant or date): its identity within its series."""
    info = event.get("occurrenceInfo")
    if not isinstance(info, Mapping) or not isinstance(info.get("originalStart"), Mapping):
        return None
    when = mailbox_when({"start": info["originalStart"]})
    return when.start if when else None


def meeting_key(event: Mapping[str, Any]) -> str | None:
    """The org-wide identity of a meeting: every attendee's copy of it has the same key.

    The iCalUid (plus the original start for an occurrence of a series); without one, a
    digest of organizer, (original) start and subject. None when even those are missing.
    """
    uid = event.get("iCalUid") or event.get("iCalUId")
    occurrence = original_start(event)
    if isinstance(uid, str) and uid.strip():
        key = f"ical:{uid.strip()}" + (f"|{occurrence}" if occurrence else "")
        if len(key) <= MAX_KEY_LENGTH:
            return key
        return "ical#" + hashlib.sha256(key.encode()).hexdigest()
    when = mailbox_when(event)
    organizer = organizer_of(event)
    subject = event.get("subject") if isinstance(event.get("subject"), str) else ""
    start = occurrence or (when.start if when else None)
    if start is None or organizer is None:
        return None
    digest = hashlib.sha256(f"{organizer}\n{start}\n{subject.strip()}".encode()).hexdigest()
    return f"fp:{digest}"


# --- which events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDecision:
    action: str  # "sync" | "skip" | "cancel" (a cancelled meeting: delete its CRM copy)
    reason: str  # "meeting" / "internal" / "personal" when synced, else why not
    external: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()
    private: bool = False

    @property
    def syncs(self) -> bool:
        return self.action == "sync"


def attendee_addresses(event: Mapping[str, Any]) -> list[str]:
    """Invited people (not rooms), the organizer included, normalised and deduplicated."""
    out: list[str] = []
    info = event.get("meetingInfo")
    attendees = info.get("attendees") if isinstance(info, Mapping) else None
    for att in attendees if isinstance(attendees, list) else []:
        if not isinstance(att, Mapping) or att.get("type") == "resource":
            continue
        addr = _address_of(att.get("emailAddress"))
        if addr and addr not in out:
            out.append(addr)
    organizer = organizer_of(event)
    if organizer and organizer not in out:
        out.insert(0, organizer)
    return out


def is_private(event: Mapping[str, Any]) -> bool:
    value = event.get("sensitivity")
    return isinstance(value, str) and value.strip().lower() in SENSITIVE


def is_cancelled(event: Mapping[str, Any]) -> bool:
    info = event.get("meetingInfo")
    occurrence = event.get("occurrenceInfo")
    return (isinstance(info, Mapping) and info.get("canceled") is True) or (
        isinstance(occurrence, Mapping) and occurrence.get("type") == "deleted"
    )


def classify(event: Mapping[str, Any], policy: CalendarPolicy, owner: str) -> EventDecision:
    """Does this event of `owner`'s calendar sync? (Matching external attendees comes later:
    a meeting whose external attendees match nobody waits in the sync cache.)"""
    if not isinstance(event, Mapping) or mailbox_when(event) is None:
        return EventDecision("skip", SKIP_MALFORMED)
    if is_cancelled(event):
        return EventDecision("cancel", CANCELLED)
    private = is_private(event)
    if private and not policy.sync_private:
        return EventDecision("skip", SKIP_PRIVATE, private=True)
    owner = normalize_address(owner) or owner
    people = attendee_addresses(event)
    external = tuple(a for a in people if not policy.is_internal(a))
    internal = tuple(a for a in people if policy.is_internal(a))
    others = [a for a in people if a != owner]
    if not others:
        if policy.sync_personal:
            return EventDecision("sync", SKIP_PERSONAL, external, internal, private)
        return EventDecision("skip", SKIP_PERSONAL, external, internal, private)
    if not external:
        if policy.sync_internal:
            return EventDecision("sync", SKIP_INTERNAL, external, internal, private)
        return EventDecision("skip", SKIP_INTERNAL, external, internal, private)
    return EventDecision("sync", "meeting", external, internal, private)


# --- mapping ----------------------------------------------------------------------------------


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def mailbox_fields(event: Mapping[str, Any], private: bool | None = None) -> dict[str, Any] | None:
    """An Aurinko event in the common vocabulary; None when it has no usable time."""
    when = mailbox_when(event)
    if when is None:
        return None
    private = is_private(event) if private is None else private
    responses: dict[str, str] = {}
    info = event.get("meetingInfo")
    attendees = info.get("attendees") if isinstance(info, Mapping) else None
    for att in attendees if isinstance(attendees, list) else []:
        if isinstance(att, Mapping) and att.get("type") != "resource":
            addr = _address_of(att.get("emailAddress"))
            if addr:
                responses.setdefault(addr, rsvp_to_crm(att.get("response")))
    organizer = organizer_of(event)
    if organizer:
        responses.setdefault(organizer, "accepted")
    return _fields(event, when, private, responses)


def _fields(
    event: Mapping[str, Any], when: When, private: bool, responses: dict[str, str]
) -> dict[str, Any]:
    """The common fields of either side's event, once its time, privacy and answers are read:
    a private event's description never syncs."""
    fields: dict[str, Any] = {
        "subject": _text(event.get("subject")),
        "location": _text(event.get("location")),
        "allDay": when.all_day,
        "start": when.start,
        "end": when.end,
        "private": private,
        "attendees": sorted(responses),
        "responses": sorted([a, s] for a, s in responses.items()),
    }
    if not private:
        fields["description"] = _text(event.get("description"))
    return fields


def crm_fields(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A CRM event in the common vocabulary; None when it has no usable time."""
    when = crm_when(event)
    if when is None:
        return None
    private = event.get("private") is True
    responses: dict[str, str] = {}
    attendees = event.get("attendees")
    for att in attendees if isinstance(attendees, list) else []:
        if isinstance(att, Mapping):
            addr = _address_of(att.get("emailAddress"))
            if addr:
                status = att.get("status")
                responses.setdefault(addr, rsvp_to_crm(status) if status else NEEDS_ACTION)
    return _fields(event, when, private, responses)


def when_of(fields: Mapping[str, Any]) -> When:
    return When(str(fields["start"]), str(fields["end"]), bool(fields.get("allDay")))


def crm_payload(
    fields: Mapping[str, Any],
    *,
    users: Mapping[str, str] | None = None,
    contacts: Mapping[str, str] | None = None,
    related_to: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A CRM create/patch body from common fields (only those present): internal attendees
    carry their CRM `userId`, matched external ones their `contactId`."""
    users, contacts = users or {}, contacts or {}
    body: dict[str, Any] = {}
    for key in ("subject", "location"):
        if key in fields:
            body[key] = fields[key]
    # A patch may carry one bound only: each value says itself whether it is a date or an
    # instant, so it is written alone.
    for key, name in (("start", "startTime"), ("end", "endTime")):
        if key in fields:
            value = str(fields[key])
            body[name] = f"{value}T00:00:00+00:00" if len(value) == 10 else _offset(value)
    if "allDay" in fields:
        body["allDay"] = bool(fields["allDay"])
    if "private" in fields:
        body["private"] = bool(fields["private"])
        if fields["private"]:
            body["description"] = None
    if "description" in fields and not fields.get("private"):
        body["description"] = fields["description"]
    if "attendees" in fields or "responses" in fields:
        statuses = dict(fields.get("responses") or [])
        body["attendees"] = [
            {
                "emailAddress": addr,
                "status": statuses.get(addr, NEEDS_ACTION),
                "userId": users.get(addr),
                "contactId": contacts.get(addr),
            }
            for addr in fields.get("attendees") or sorted(statuses)
        ]
    if related_to is not None:
        body["relatedTo"] = dict(related_to)
    return body


def mailbox_payload(
    fields: Mapping[str, Any], *, timezone: str | None, organizer: str | None = None
) -> dict[str, Any]:
    """An Aurinko create/patch body from common fields (only those present). Responses are
    the attendees' own answers and are never written."""
    body: dict[str, Any] = {}
    for key in ("subject", "location", "description"):
        if key in fields:
            body[key] = fields[key]
    for key in ("start", "end"):
        if key in fields:
            value = str(fields[key])
            when = When(value, value, len(value) == 10)
            body[key] = mailbox_times(when, timezone)["start"]
    if "private" in fields:
        body["sensitivity"] = "private" if fields["private"] else "normal"
    if "attendees" in fields:
        body["meetingInfo"] = {
            "attendees": [
                {"emailAddress": {"address": a}, "type": "required"}
                for a in fields["attendees"]
                if a != organizer
            ]
        }
    return body


# --- recurring series -------------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INSTANCES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
# Aurinko's frequencies (OpenAPI `Recurrence_simple_pattern`), plus the Graph spellings some
# providers pass through unchanged.
_FREQUENCIES = {
    "daily": "daily",
    "weekly": "weekly",
    "monthly": "monthly",
    "absolutemonthly": "monthly",
    "monthlyrelative": "monthlyRelative",
    "relativemonthly": "monthlyRelative",
    "yearly": "yearly",
    "absoluteyearly": "yearly",
    "yearlyrelative": "yearlyRelative",
    "relativeyearly": "yearlyRelative",
}
_RANGES = {
    "bydate": "byDate",
    "enddate": "byDate",
    "bycount": "byCount",
    "numbered": "byCount",
    "unbounded": "unbounded",
    "noend": "unbounded",
}


def _pattern(master: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    recurrence = master.get("recurrence")
    simple = recurrence.get("simple") if isinstance(recurrence, Mapping) else None
    if not isinstance(simple, Mapping) or not isinstance(simple.get("pattern"), Mapping):
        return None
    rng = simple.get("range") if isinstance(simple.get("range"), Mapping) else {}
    return simple["pattern"], rng


def _first(mapping: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


def _bounded(value: object, low: int, high: int) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    return value if ok else None  # type: ignore[return-value]


def _day_of_month(day: int) -> dict[str, Any]:
    """rrule arguments for "day `day` of the month": on days 29-31 a shorter month falls on
    its last day (as Outlook and Google do) rather than being skipped."""
    if day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": tuple(range(28, day + 1)), "bysetpos": -1}


def series_rule(
    pattern: Mapping[str, Any], rng: Mapping[str, Any], first: datetime
) -> rrule | None:
    """The dateutil rule of an Aurinko recurrence pattern and range, starting at `first` (a
    naive wall time in the series' zone); None for a pattern that cannot be read."""
    frequency = _FREQUENCIES.get(str(pattern.get("frequency") or "").lower())
    if frequency is None:
        return None
    interval = _bounded(pattern.get("interval"), 1, 10_000) or 1
    names = pattern.get("daysOfWeek")
    days = tuple(
        _WEEKDAYS.index(d.lower())
        for d in (names if isinstance(names, list) else [])
        if isinstance(d, str) and d.lower() in _WEEKDAYS
    ) or (first.weekday(),)
    week_start = str(_first(pattern, "weekStart", "firstDayOfWeek") or "monday").lower()
    month = _bounded(_first(pattern, "monthOfYear", "month"), 1, 12) or first.month
    day = _bounded(pattern.get("dayOfMonth"), 1, 31) or first.day
    instance = _INSTANCES.get(str(_first(pattern, "instance", "index") or "first").lower(), 1)
    args: dict[str, Any] = {
        "dtstart": first,
        "interval": interval,
        "wkst": _WEEKDAYS.index(week_start) if week_start in _WEEKDAYS else 0,
    }
    if frequency == "daily":
        freq = DAILY
    elif frequency == "weekly":
        freq, args["byweekday"] = WEEKLY, days
    elif frequency == "monthly":
        freq = MONTHLY
        args.update(_day_of_month(day))
    elif frequency == "monthlyRelative":
        # "The last Friday", or with several days "the first weekday": a position in the set.
        freq, args["byweekday"], args["bysetpos"] = MONTHLY, days, instance
    elif frequency == "yearly":
        freq, args["bymonth"] = YEARLY, month
        args.update(_day_of_month(day))
    else:
        freq, args["bymonth"] = YEARLY, month
        args["byweekday"], args["bysetpos"] = days, instance
    kind = _RANGES.get(str(rng.get("type") or "").lower())
    count = _bounded(rng.get("count"), 1, 1_000_000)
    until = _date(rng.get("recurrenceEnd"))
    if count is not None and kind in (None, "byCount"):
        args["count"] = count
    elif until is not None and kind in (None, "byDate"):
        args["until"] = datetime.combine(until, time.max)  # the end date is inclusive
    return rrule(freq, **args)


def _ical_values(lines: list[str], name: str, zone: Any) -> list[date | datetime]:
    """The values of every `name` line (EXDATE): dates, or aware datetimes (a floating value
    is wall time in the series' zone, a TZID one in its own)."""
    out: list[date | datetime] = []
    for line in lines:
        head, _, values = line.partition(":")
        prop, *params = head.split(";")
        if prop.strip().upper() != name:
            continue
        tzid = [p.split("=", 1)[1] for p in params if p.upper().startswith("TZID=")]
        value_zone = (_zone(tzid[0]) if tzid else None) or zone
        for value in (v.strip() for v in values.split(",")):
            try:
                if len(value) == 8:
                    out.append(datetime.strptime(value, "%Y%m%d").date())
                    continue
                moment = datetime.strptime(value.rstrip("Zz"), "%Y%m%dT%H%M%S")
            except ValueError:
                continue
            out.append(moment.replace(tzinfo=UTC if value[-1:] in "Zz" else value_zone))
    return out


_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ICAL_FREQUENCIES = {"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly", "YEARLY": "yearly"}
_ICAL_ALWAYS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST"})
_ICAL_PARTS = {
    "daily": frozenset(),
    "weekly": frozenset({"BYDAY"}),
    "monthly": frozenset({"BYDAY", "BYMONTHDAY", "BYSETPOS"}),
    "yearly": frozenset({"BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS"}),
}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


def _checked(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{value} is not in {low}..{high}")
    return value


def ical_pattern(rule: str, zone: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An iCalendar RRULE as Aurinko's simple pattern and range, when it is one a calendar
    lets people make (what Aurinko's simple form holds); None otherwise. Arbitrary rules are
    not handed to rrule: one no day satisfies (BYMONTHDAY=30;BYMONTH=2) is walked to the year
    9999 before yielding nothing."""
    parts: dict[str, str] = {}
    for item in rule.split(":", 1)[-1].split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            parts[key.strip().upper()] = value.strip().upper()
    frequency = _ICAL_FREQUENCIES.get(parts.get("FREQ", ""))
    if frequency is None or set(parts) - _ICAL_ALWAYS - _ICAL_PARTS[frequency]:
        return None  # a part the simple form has no room for (BYMONTH of a monthly rule)
    if frequency == "yearly" and set(parts) & {"BYDAY", "BYMONTHDAY"} and "BYMONTH" not in parts:
        return None  # the 15th of every month, by a yearly rule
    pattern: dict[str, Any] = {"frequency": frequency}
    rng: dict[str, Any] = {"type": "unbounded"}
    try:
        if "INTERVAL" in parts:
            pattern["interval"] = _checked(int(parts["INTERVAL"]), 1, 10_000)
        if "WKST" in parts:
            pattern["weekStart"] = _WEEKDAYS[_ICAL_DAYS.index(parts["WKST"])]
        days, positions = [], []
        for item in filter(None, parts.get("BYDAY", "").split(",")):
            days.append(_WEEKDAYS[_ICAL_DAYS.index(item[-2:])])
            if item[:-2]:
                positions.append(int(item[:-2]))
        if "BYSETPOS" in parts:
            positions.append(int(parts["BYSETPOS"]))
        if "BYMONTHDAY" in parts:
            day = int(parts["BYMONTHDAY"])  # -1: the last day, as 31 falls on it
            pattern["dayOfMonth"] = 31 if day == -1 else _checked(day, 1, 31)
        if "BYMONTH" in parts:
            pattern["monthOfYear"] = _checked(int(parts["BYMONTH"]), 1, 12)
        if "COUNT" in parts:
            rng = {"type": "byCount", "count": _checked(int(parts["COUNT"]), 1, 1_000_000)}
        elif "UNTIL" in parts:
            until = parts["UNTIL"]
            end = datetime.strptime(until[:8], "%Y%m%d")
            if until.endswith("Z") and "T" in until:
                moment = datetime.strptime(until[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                end = moment.astimezone(zone)
            rng = {"type": "byDate", "recurrenceEnd": end.date().isoformat()}
    except (ValueError, IndexError):
        return None
    if days:
        pattern["daysOfWeek"] = days
    if len(set(positions)) > 1 or (positions and positions[0] not in _ORDINALS):
        return None
    if positions:
        if pattern["frequency"] not in ("monthly", "yearly") or "dayOfMonth" in pattern:
            return None
        pattern["frequency"] += "Relative"
        pattern["instance"] = _ORDINALS[positions[0]]
    elif days and pattern["frequency"] in ("monthly", "yearly"):
        return None  # every Friday of a month: not a simple pattern
    return pattern, rng


def ical_rule(recurrence: object, first: datetime, all_day: bool) -> tuple[rrule, set[str]] | None:
    """The rule of a recurrence Aurinko gives as iCalendar lines only (`ical.rules`), from
    `first` (aware, in the series' zone), and the original starts EXDATE cancels (kept as
    cancelled occurrences, as pattern exclusions are, so a synced one leaves the CRM). None
    unless there is exactly one RRULE of a simple form (RDATE lines are not read)."""
    ical = recurrence.get("ical") if isinstance(recurrence, Mapping) else None
    rules = ical.get("rules") if isinstance(ical, Mapping) else None
    lines = [r.strip() for r in rules if isinstance(r, str)] if isinstance(rules, list) else []
    rrules = [line for line in lines if line.upper().startswith("RRULE")]
    parsed = ical_pattern(rrules[0], first.tzinfo) if len(rrules) == 1 else None
    rule = series_rule(*parsed, first.replace(tzinfo=None)) if parsed else None
    if rule is None:
        return None
    excluded = set()
    for value in _ical_values(lines, "EXDATE", first.tzinfo):
        if not isinstance(value, datetime):
            excluded.add(value.isoformat())
        else:
            excluded.add(value.date().isoformat() if all_day else utc_text(value))
    return rule, excluded


def expand(
    master: Mapping[str, Any],
    exceptions: Iterable[Mapping[str, Any]],
    window: tuple[datetime, datetime],
    limit: int = MAX_OCCURRENCES,
) -> list[dict[str, Any]] | None:
    """The occurrences of a series master inside `window`, as individual events.

    Every pattern of Aurinko's simple recurrence is expanded (daily, weekly, monthly and
    yearly, absolute and relative, with an interval), by dateutil's rrule over the master's
    wall time in its own time zone, so 10:00 stays 10:00 across DST. A count counts from the
    series start, not from the window. `exceptions` are the series' occurrence records: a
    modified one replaces the computed occurrence with the same original start, a deleted one
    (or a pattern exclusion) becomes a cancelled occurrence. At most `limit` occurrences, the
    earliest first. A series Aurinko gives as iCalendar rules only is read from those. None:
    a series this module cannot expand (no readable pattern or rule).
    """
    parsed = _pattern(master)
    when = mailbox_when(master)
    if when is None:
        return None
    tz_name = (master.get("start") or {}).get("timezone")
    zone = (_zone(tz_name) if not when.all_day else UTC) or UTC
    first = when.start_instant().astimezone(zone)
    if when.all_day:
        duration = date.fromisoformat(when.end) - date.fromisoformat(when.start)
    else:
        duration = datetime.fromisoformat(when.end.replace("Z", "+00:00")) - first
    rng: Mapping[str, Any] = {}
    if parsed is not None:
        pattern, rng = parsed
        simple = series_rule(pattern, rng, first.replace(tzinfo=None))
        found = (simple, set()) if simple is not None else None
    else:
        found = ical_rule(master.get("recurrence"), first, when.all_day)
    if found is None:
        return None
    rule, excluded = found
    for item in rng.get("patternExclusions") or []:
        excluded_when = mailbox_when({"start": item}) if isinstance(item, Mapping) else None
        if excluded_when:
            excluded.add(excluded_when.start)
    by_original: dict[str, Mapping[str, Any]] = {}
    for ex in exceptions:
        original = original_start(ex)
        if original:
            by_original[original] = ex
    lo, hi = window
    out: list[dict[str, Any]] = []
    if limit <= 0:
        return out
    # Skip to a day before the window (wall time, so a DST shift is covered): rrule still
    # counts from the series start, but occurrences long past are not built into events.
    earliest = (lo - duration).astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    for local in rule.xafter(max(earliest, first.replace(tzinfo=None)), inc=True):
        # The wall time read in the zone (a time in a DST gap lands an hour later).
        start = local.replace(tzinfo=zone).astimezone(UTC)
        if start >= hi:
            break
        if start + duration <= lo:  # over before the window (all-day: days from UTC midnight)
            continue
        original = local.date().isoformat() if when.all_day else utc_text(start)
        out.append(
            _occurrence(master, original, start, duration, when, tz_name, excluded, by_original)
        )
        if len(out) >= limit:
            break
    return out


def _occurrence(
    master: Mapping[str, Any],
    original: str,
    start: datetime,
    duration: timedelta,
    when: When,
    tz_name: Any,
    excluded: set[str],
    by_original: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    ex = by_original.get(original)
    cancelled = (
        original in excluded or (ex or {}).get("occurrenceInfo", {}).get("type") == "deleted"
    )
    if ex is not None and not cancelled:
        out = dict(ex)
        out.setdefault("iCalUid", master.get("iCalUid"))
        return out
    event = {
        k: v for k, v in master.items() if k not in ("recurrence", "id", "etag", "recurrenceType")
    }
    if when.all_day:
        event["start"] = {"dateOnly": original}
        event["end"] = {"dateOnly": (date.fromisoformat(original) + duration).isoformat()}
        original_start_value: dict[str, str] = {"dateOnly": original}
    else:
        zone = _zone(tz_name)
        s, e = start, start + duration
        event["start"] = _local(s, zone, tz_name)
        event["end"] = _local(e, zone, tz_name)
        original_start_value = _local(s, zone, tz_name)
    event["recurrenceType"] = "occurrence"
    event["occurrenceInfo"] = {
        "type": "deleted" if cancelled else "regular",
        "originalStart": original_start_value,
        "masterId": master.get("id"),
    }
    return event


def _local(instant: datetime, zone: ZoneInfo | None, name: Any) -> dict[str, str]:
    if zone is None:
        return {"dateTime": instant.astimezone(UTC).isoformat(), "timezone": "UTC"}
    return {"dateTime": instant.astimezone(zone).isoformat(), "timezone": str(name)}
