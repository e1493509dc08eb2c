"""The calendar adapter's CRM cursor trails the read and never moves back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from brightsync.calendar.adapter import CalendarAdapter
from brightsync.calendar.meetings import CalendarPolicy
from brightsync.sync.adapter import CRM
from brightsync.sync.cursors import CRM_CURSOR_LAG
from brightsync.times import parse_instant, utc_stamp


class QuietCrm:
    """A CRM with no event changes: the read touches neither events nor meeting claims."""

    def __init__(self) -> None:
        self.since: list[str] = []

    def supports(self, name: str) -> bool:
        return name == "deleted_events"

    def changed_since(self, collection: str, since: str, **_: Any) -> list[dict[str, Any]]:
        self.since.append(since)
        return []

    def deleted_since(self, collection: str, since: str) -> list[dict[str, Any]]:
        return []

    def events_in_window(self, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        return []


def adapter() -> tuple[CalendarAdapter, QuietCrm]:
    crm = QuietCrm()
    ctx = SimpleNamespace(
        policy=CalendarPolicy(),
        user_email="me@acme.com",
        crm=crm,
        org_id=1,
        user_id=1,
        settings={"crm": {"deletionCheckSeconds": 1800}},
    )
    return CalendarAdapter(ctx), crm  # type: ignore[arg-type]


def test_the_first_cursor_trails_the_read():
    cal, _ = adapter()
    before = datetime.now(UTC)
    cursor = cal.changes(CRM, None).cursor
    moment = parse_instant(cursor)
    assert moment is not None
    assert before - CRM_CURSOR_LAG - timedelta(seconds=1) <= moment <= datetime.now(UTC)


def test_the_cursor_moves_on_from_an_old_one():
    cal, crm = adapter()
    old = utc_stamp(datetime.now(UTC) - timedelta(hours=2))
    cursor = cal.changes(CRM, old).cursor
    assert crm.since == [old]
    assert parse_instant(cursor) > parse_instant(old)


def test_the_cursor_never_moves_back():
    # A cursor ahead of "now minus the lag" (a clock that jumped back, a cursor stored by a
    # worker whose clock runs ahead) stays where it is: nothing read is given up again.
    cal, _ = adapter()
    ahead = utc_stamp(datetime.now(UTC) + timedelta(minutes=1))
    assert cal.changes(CRM, ahead).cursor == ahead
    recent = utc_stamp(datetime.now(UTC) - CRM_CURSOR_LAG + timedelta(minutes=2))
    assert cal.changes(CRM, recent).cursor == recent
