"""The "calendar" sync handler: builds the calendar adapter for a user and runs the two-way
engine (registered in `sync/jobs.py` HANDLERS)."""

from __future__ import annotations

from typing import Any

from brightsync.calendar.adapter import CalendarAdapter
from brightsync.calendar.context import CalendarContext
from brightsync.sync.handler import run_twoway


def sync_calendar(user_id: int, run: Any) -> None:
    run_twoway(
        user_id,
        run,
        "calendar",
        CalendarAdapter,
        context=CalendarContext,
        identity=CalendarAdapter.identity,
    )
