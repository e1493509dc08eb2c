"""The "calendar" sync handler: builds the calendar adapter for a user and runs the two-way
engine (wired in `brightsync/domains.py`)."""

from __future__ import annotations

from brightsync.calendar.adapter import CalendarAdapter
from brightsync.calendar.context import CalendarContext
from brightsync.sync.handler import run_twoway
from brightsync.sync.run import RunContext


def sync_calendar(user_id: int, run: RunContext) -> None:
    run_twoway(
        user_id,
        run,
        "calendar",
        CalendarAdapter,
        context=CalendarContext,
        identity=CalendarAdapter.identity,
    )
