"""What happens in the reference CRM: emails, calendar events and tasks, each a blueprint. The
interesting parts are the email lookup by Message-ID (look before create) and the calendar
window of the event list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, request

from brightsync.sandbox.crm import files
from brightsync.sandbox.crm.calendars import event_write
from brightsync.sandbox.crm.errors import BadRequest
from brightsync.sandbox.crm.records import SHARED, operation, shared_operations
from brightsync.sandbox.crm.state import broken, crm
from brightsync.sandbox.crm.wire import inclusive, instant_param, page, since_param, with_deleted

emails = Blueprint("emails", __name__)
events = Blueprint("events", __name__)
tasks = Blueprint("tasks", __name__)

shared_operations(emails, "get", "create", "update", "replace")
operation(emails, "attach")(files.attach)
operation(emails, "download")(files.download)
shared_operations(events, "get", "deleted")
for _action in ("create", "update", "replace", "delete"):  # in the calendar shapes in force
    operation(events, _action)(event_write(_action, SHARED[_action]("events")))
shared_operations(tasks, "get", "create", "update", "delete", "deleted", "list")


@operation(emails, "lookup")
def lookup_emails() -> Any:
    msg_id = request.args.get("rfc822MsgId")
    if not msg_id:
        raise BadRequest("query parameter rfc822MsgId is required")
    if broken("email_lookup_ignores_filter"):
        return crm().store.live("emails")
    return crm().store.by_keys("emails", [msg_id])


@operation(events, "list")
def list_events() -> Any:
    since = since_param()
    found = crm().store.changed("events", since, inclusive=inclusive())
    start_at, end_at = request.args.get("startAt"), request.args.get("endAt")
    if start_at or end_at:
        # Events overlapping the window [startAt, endAt), ordered by start.
        lo = instant_param(start_at, "startAt") if start_at else None
        hi = instant_param(end_at, "endAt") if end_at else None
        found = [
            e
            for e in found
            if (lo is None or datetime.fromisoformat(e["endTime"]) > lo)
            and (hi is None or datetime.fromisoformat(e["startTime"]) < hi)
        ]
        found.sort(key=lambda e: datetime.fromisoformat(e["startTime"]))
    return page("events", with_deleted("events", found, since))


BLUEPRINTS = (emails, events, tasks)
