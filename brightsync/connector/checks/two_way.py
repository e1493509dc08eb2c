"""Events and tasks, the resources synced both ways: their test records, the window
lookup of events, and the lifecycle each goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from brightsync.connector.checks import records
from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, ids, shape, when


def event_payload(run: CheckRun) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=400)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    run.event_start = start
    return {
        "subject": f"BrightSync connector check {run.id}",
        "description": "A test event created by `brightsync connector check`.",
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(minutes=30)).isoformat(),
        "location": "Online",
        "allDay": False,
        "private": False,
        "attendees": [
            {"emailAddress": run.address("a"), "status": "accepted"},
        ],
        "relatedTo": {"contacts": [], "companies": [], "opportunities": []},
    }


def window(run: CheckRun) -> str:
    event = run.need("event")
    path, start = f"{API}/events", run.event_start
    around = {
        "startAt": (start - timedelta(hours=1)).isoformat(),
        "endAt": (start + timedelta(hours=2)).isoformat(),
    }
    found = run.probe.follow(path, around, what="events in a window")
    for item in found:
        shape("events", item, "window answer")
        begin, end = when(item.get("startTime")), when(item.get("endTime"))
        if (
            begin
            and end
            and (end <= start - timedelta(hours=1) or begin >= start + timedelta(hours=2))
        ):
            raise Failed(f"event {item.get('id')} lies outside the window asked for")
    if str(event["id"]) not in ids(found):
        raise Failed(f"the window around event {event['id']} does not return it")
    later = {
        "startAt": (start + timedelta(days=1)).isoformat(),
        "endAt": (start + timedelta(days=1, hours=1)).isoformat(),
    }
    if str(event["id"]) in ids(run.probe.follow(path, later, what="events in a window")):
        raise Failed("a window a day later still returns the event")
    return "returns the events overlapping startAt..endAt"


def task_payload(run: CheckRun) -> dict[str, Any]:
    return {
        "subject": f"BrightSync connector check {run.id}",
        "description": "A test task created by `brightsync connector check`.",
        "status": "notStarted",
        "priority": "normal",
        "dueDate": (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0).isoformat(),
    }


def two_way(
    run: CheckRun, resource: str, role: str, payload: dict[str, Any], change: dict[str, Any]
) -> None:
    """The lifecycle of a two-way resource: create, load, change, changes since, delete."""

    def create() -> str:
        record = run.created(resource, payload, role)
        return f"created {role} {record['id']}"

    run.record(f"{resource}.create", create)
    run.record(f"{resource}.get", lambda: records.get(run, resource, role))
    run.record(f"{resource}.update", lambda: records.update(run, resource, role, change))
    if resource == "events":
        run.record("events.window", lambda: window(run))
    run.record(f"{resource}.since", lambda: records.since(run, resource, role))
    run.record(f"{resource}.delete", lambda: records.delete(run, resource, role))
    run.record(f"{resource}.deleted", lambda: records.deleted(run, resource, role))
    run.record(f"{resource}.showDeleted", lambda: records.show_deleted(run, resource, role))
