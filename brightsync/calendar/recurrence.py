"""Recurring series: a series master expanded into its occurrences in the sync window (pure).

Aurinko gives a series as a simple pattern and range (or as iCalendar lines only); its
exceptions (moved or cancelled occurrences) come as separate records. Each occurrence is
identified within its series by its original start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule

from brightsync.calendar.times import When, mailbox_when, read_date, read_zone
from brightsync.times import utc_stamp

# A series is expanded over the whole sync window: at most one occurrence a day (daily is
# the finest pattern a calendar offers), so the window's days bound it. The cap bounds it
# against a window no setting allows (pastDays and futureDays are each at most 3650 days).
MAX_OCCURRENCES = 7_400


def occurrence_bound(window: tuple[datetime, datetime], duration: timedelta) -> int:
    """How many occurrences of one series can touch `window`: one a day at most, counting
    those that start up to `duration` before it and a day either side for DST and all-day
    dates (pure)."""
    lo, hi = window
    span = max(hi - lo, timedelta(0)) + max(duration, timedelta(0))
    return -(-span // timedelta(days=1)) + 2


def original_start(event: Mapping[str, Any]) -> str | None:
    """An occurrence's original start (UTC instant or date): its identity within its series."""
    info = event.get("occurrenceInfo")
    if not isinstance(info, Mapping) or not isinstance(info.get("originalStart"), Mapping):
        return None
    when = mailbox_when({"start": info["originalStart"]})
    return when.start if when else None


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
    until = read_date(rng.get("recurrenceEnd"))
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
        value_zone = (read_zone(tzid[0]) if tzid else None) or zone
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
            excluded.add(value.date().isoformat() if all_day else utc_stamp(value))
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
    (or a pattern exclusion) becomes a cancelled occurrence. Every occurrence of the window,
    the earliest first, up to `limit` (and `occurrence_bound` of the window, which only a
    pattern finer than daily could reach). A series Aurinko gives as iCalendar rules only is
    read from those. None: a series this module cannot expand (no readable pattern or rule).
    """
    parsed = _pattern(master)
    when = mailbox_when(master)
    if when is None:
        return None
    tz_name = (master.get("start") or {}).get("timezone")
    zone = (read_zone(tz_name) if not when.all_day else UTC) or UTC
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
    limit = min(limit, occurrence_bound(window, duration))
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
        original = local.date().isoformat() if when.all_day else utc_stamp(start)
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
        zone = read_zone(tz_name)
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
