"""An event's time as the calendar sync reads and writes it (pure).

In the common vocabulary a timed event's ``start`` / ``end`` are UTC instants
``YYYY-MM-DDTHH:MM:SSZ``; an all-day event's are dates ``YYYY-MM-DD`` with an **exclusive**
end (a one-day event on 3 March ends on 4 March, as the mailbox's ``end.dateOnly``).

The time zone is not part of the vocabulary (the CRM has none): the mailbox event keeps its
own IANA zone and every write converts the instant into it, so 10:00 Europe/Berlin stays
10:00 Europe/Berlin on both sides of a DST change. Unlike `brightsync.times.parse_instant`,
`read_instant` reads a time without offset as wall time in the event's own zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brightsync.times import utc_stamp


def read_zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def read_instant(value: object, zone: ZoneInfo | None = None) -> datetime | None:
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


def read_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


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
        first = read_date(start.get("dateOnly"))
        if first is None:
            return None
        last = read_date(end.get("dateOnly")) or read_date(end.get("dateTime"))
        if last is None or last <= first:
            last = first + timedelta(days=1)  # the end date is exclusive: at least one day
        return When(first.isoformat(), last.isoformat(), True)
    zone_name = start.get("timezone")
    zone = read_zone(zone_name)
    begins = read_instant(start.get("dateTime"), zone)
    if begins is None:
        return None
    ends = read_instant(end.get("dateTime"), read_zone(end.get("timezone")) or zone)
    if ends is None or ends < begins:
        ends = begins
    return When(utc_stamp(begins), utc_stamp(ends), False, zone_name if zone else None)


def mailbox_times(when: When, timezone: str | None) -> dict[str, dict[str, str]]:
    """`start` / `end` for an Aurinko write, in `timezone` (the event's own zone) when known."""
    if when.all_day:
        return {"start": {"dateOnly": when.start}, "end": {"dateOnly": when.end}}
    zone = read_zone(timezone)
    out = {}
    for key, value in (("start", when.start), ("end", when.end)):
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if zone is not None:
            local = instant.astimezone(zone)
            out[key] = {"dateTime": local.isoformat(), "timezone": str(timezone)}
        else:
            out[key] = {"dateTime": instant.isoformat(), "timezone": "UTC"}
    return out


def crm_when(event: Mapping[str, Any]) -> When | None:
    """The time of a CRM event. An all-day event's dates are read as written (not moved to
    UTC). An end at midnight after the first day is exclusive (as the mailbox's); an end on
    the first day, or at a time within a day, names the last day itself (inclusive)."""
    start_text, end_text = event.get("startTime"), event.get("endTime")
    if event.get("allDay") is True:
        first = read_date(start_text)
        if first is None:
            return None
        last = read_date(end_text)
        at_midnight = isinstance(end_text, str) and end_text[11:19] in ("", "00:00:00")
        if last is None or last < first:
            last = first
        if last == first or not at_midnight:
            last = last + timedelta(days=1)
        return When(first.isoformat(), last.isoformat(), True)
    begins = read_instant(start_text)
    if begins is None:
        return None
    ends = read_instant(end_text)
    if ends is None or ends < begins:
        ends = begins
    return When(utc_stamp(begins), utc_stamp(ends), False)
