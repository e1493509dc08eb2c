"""A series is expanded over its whole sync window, not up to a fixed count (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from brightsync.calendar.meetings import CalendarPolicy
from brightsync.calendar.recurrence import expand, occurrence_bound

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney")


def daily(first: datetime, zone: str, minutes: int, pattern: dict | None = None) -> dict:
    """A daily series master from the wall time `first` in `zone`, `minutes` long."""
    tz = ZoneInfo(zone)
    start = first.replace(tzinfo=tz)
    return {
        "id": "s1",
        "iCalUid": "s1@acme.com",
        "recurrenceType": "master",
        "subject": "Stand-up",
        "start": {"dateTime": start.isoformat(), "timezone": zone},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).isoformat(), "timezone": zone},
        "recurrence": {
            "simple": {
                "pattern": pattern or {"frequency": "daily"},
                "range": {"type": "noEnd"},
            }
        },
    }


def expected_starts(
    first: datetime, zone: str, minutes: int, interval: int, window: tuple[datetime, datetime]
) -> list[datetime]:
    """Every occurrence touching the window, counted day by day in wall time."""
    lo, hi = window
    tz, out = ZoneInfo(zone), []
    day = 0
    while True:
        start = (first + timedelta(days=day)).replace(tzinfo=tz).astimezone(UTC)
        if start >= hi:
            return out
        if start + timedelta(minutes=minutes) > lo:
            out.append(start)
        day += interval


def starts(occurrences: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(o["start"]["dateTime"]).astimezone(UTC) for o in occurrences]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    before=st.integers(0, 400),  # days the series started before the window
    past=st.integers(0, 400),
    future=st.integers(0, 800),
    minutes=st.sampled_from([15, 60, 24 * 60, 3 * 24 * 60]),
    interval=st.integers(1, 3),
    hour=st.integers(0, 23),
)
def test_a_daily_series_yields_every_occurrence_of_its_window(
    zone, before, past, future, minutes, interval, hour
):
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    window = CalendarPolicy(past_days=past, future_days=future).window(now)
    first = (now - timedelta(days=past + before)).replace(tzinfo=None, hour=hour, minute=30)
    pattern = {"frequency": "daily", "interval": interval}
    out = expand(daily(first, zone, minutes, pattern), [], window)
    assert out is not None
    assert starts(out) == expected_starts(first, zone, minutes, interval, window)
    assert len(out) <= occurrence_bound(window, timedelta(minutes=minutes))


def test_the_default_window_holds_a_daily_series_to_its_end():
    """30 days back and 180 ahead: 210 occurrences, where 52 from 30 days ago stopped 3 weeks
    ahead."""
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    lo, hi = window = CalendarPolicy().window(now)
    out = expand(daily(datetime(2025, 1, 1, 9), "Europe/Berlin", 30), [], window)
    assert len(out) == 210
    assert hi - starts(out)[-1] < timedelta(days=1) and starts(out)[0] - lo < timedelta(days=1)


def test_every_day_of_the_week_is_a_daily_series_and_the_limit_still_bounds():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    window = CalendarPolicy(past_days=10, future_days=365).window(now)
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    weekly = {"frequency": "weekly", "daysOfWeek": days}
    first = datetime(2026, 1, 5, 8)
    every_day = expand(daily(first, "UTC", 30, weekly), [], window)
    assert starts(every_day) == starts(expand(daily(first, "UTC", 30), [], window))
    assert len(every_day) == 375
    assert len(expand(daily(first, "UTC", 30), [], window, limit=7)) == 7


def test_the_bound_is_the_windows_days():
    lo = datetime(2026, 1, 1, tzinfo=UTC)
    assert occurrence_bound((lo, lo + timedelta(days=210)), timedelta(minutes=30)) == 213
    assert occurrence_bound((lo, lo), timedelta(0)) == 2
    assert occurrence_bound((lo, lo + timedelta(days=7300)), timedelta(days=2)) == 7304
