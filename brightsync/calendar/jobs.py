"""The "calendar" sync handler: builds the calendar adapter for a user and runs the two-way
engine (registered in `sync/jobs.py` HANDLERS)."""

from __future__ import annotations

from typing import Any

from brightsync.calendar.adapter import CalendarAdapter, load_context
from brightsync.sync import engine
from brightsync.sync.twoway import Settings


def sync_calendar(user_id: int, run: Any) -> None:
    ctx = load_context(user_id)
    try:
        options = ctx.settings["calendar"]
        engine.sync(
            CalendarAdapter(ctx),
            engine.Scope(ctx.org_id, ctx.user_id, "calendar"),
            Settings(direction=options["direction"], conflict=options["conflict"]),
            engine.Lease(run.state_id, run.token),
            identity=CalendarAdapter.identity,
            count=run.count,
            on_progress=lambda counts: run.renew(progress=counts),
        )
    finally:
        ctx.close()
        for key, n in ctx.counters.items():
            run.count(key, n)
