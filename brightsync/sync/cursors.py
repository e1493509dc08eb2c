"""The CRM-side cursor shared by the two-way adapters (calendar, contacts, tasks).

The CRM side of each adapter reads `?since=<instant>`; its next cursor trails the read by
`CRM_CURSOR_LAG`, because the connector's `since` is inclusive and re-reads are echo-free
while a change landing during the read must never be missed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brightsync.times import parse_instant, utc_stamp

CRM_CURSOR_LAG = timedelta(minutes=5)


def now() -> datetime:
    return datetime.now(UTC)


def next_since(since: str | None, started: datetime) -> str:
    """The CRM cursor after a read that started at `started` from `since`: it trails the
    read by `CRM_CURSOR_LAG`, and never moves back."""
    trail = started - CRM_CURSOR_LAG
    previous = parse_instant(since)
    return since if since and previous and previous > trail else utc_stamp(trail)
