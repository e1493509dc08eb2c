"""Tasks: the mapping between mailbox tasks (Aurinko), CRM tasks and the two-way core's fields.

Pure: plain values in, plain values out. The common fields:

- ``title``, ``notes``: the mailbox's title/notes, the CRM's subject/description.
- ``status``: the mailbox's vocabulary (notStarted, inProgress, completed, waitingOnOthers,
  deferred). CRM statuses map onto it through the org's `statusMap` (CRM value -> mailbox
  value); several CRM values may map to one mailbox value, and the CRM's finer value is then
  never overwritten, because the core writes a field only when its common value changed.
- ``priority``: the mailbox's importance (low, normal, high) <-> the CRM's priority.
- ``due``: a calendar date, ``YYYY-MM-DD``. Mailbox providers often keep the date only; the
  date is read as written (no time-zone shift). A CRM due instant is read as a date in the CRM
  user's time zone, and its time of day is a CRM-only field (``dueTime``) that no mailbox edit
  touches: a new due date from the mailbox keeps the CRM's time.
- ``completed``: when it was completed (UTC, seconds).
- The CRM's ``relatedTo`` is not a common field: it is never written from the mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brightsync.times import parse_instant, utc_stamp

MAILBOX_STATUSES = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")
IMPORTANCE = ("low", "normal", "high")
IDENTITY = ("title", "due")  # what pairs a record with its lost-create or moved twin


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def utc_text(value: str | None) -> str | None:
    parsed = parse_instant(value)
    return utc_stamp(parsed) if parsed is not None else None


def written_date(value: str | None) -> str | None:
    """The calendar date a mailbox due value names, as written (date-only providers send
    midnight UTC; converting that to a local zone would move it a day)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


class StatusMap:
    """CRM status <-> mailbox status, from the org's `tasks.statusMap` (CRM -> mailbox)."""

    def __init__(self, crm_to_mailbox: Mapping[str, str] | None = None) -> None:
        explicit = dict(crm_to_mailbox or {})
        self.to_mailbox = {s: s for s in MAILBOX_STATUSES}
        self.to_mailbox.update(explicit)
        # A mailbox status becomes the first CRM value the org mapped onto it, else its own name.
        self.to_crm: dict[str, str] = {}
        for crm, mailbox in explicit.items():
            self.to_crm.setdefault(mailbox, crm)
        for status in MAILBOX_STATUSES:
            self.to_crm.setdefault(status, status)

    def mailbox(self, crm_status: str | None) -> str:
        return self.to_mailbox.get(crm_status or "", "notStarted")

    def crm(self, mailbox_status: str) -> str:
        return self.to_crm.get(mailbox_status, mailbox_status)


def from_mailbox(task: Mapping[str, Any]) -> dict[str, Any]:
    status = task.get("status") if task.get("status") in MAILBOX_STATUSES else "notStarted"
    importance = task.get("importance") if task.get("importance") in IMPORTANCE else "normal"
    return {
        "title": task.get("title") or "",
        "notes": task.get("notes") or "",
        "status": status,
        "priority": importance,
        "due": written_date(task.get("due")),
        "completed": utc_text(task.get("completed")) if status == "completed" else None,
    }


def to_mailbox(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An Aurinko task create body: empty fields are left out (Aurinko's document types them
    as strings: null is not a value it takes)."""
    return {k: v for k, v in mailbox_patch(fields).items() if v != ""}


def mailbox_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    """An Aurinko task update body: the fields in `patch` only. Notes that became empty are
    cleared with "". A due date that became empty is left out: the document types `due` as a
    date-time string and offers no empty value (null nor ""), so the mailbox keeps its date
    (the core then sees the two sides agree with their bases, and writes nothing more)."""
    body: dict[str, Any] = {}
    if "title" in patch:
        body["title"] = patch["title"] or ""
    if "notes" in patch:
        body["notes"] = patch["notes"] or ""
    if "status" in patch:
        body["status"] = patch["status"]
    if "priority" in patch:
        body["importance"] = patch["priority"]
    if patch.get("due"):
        # Midnight UTC of the date: what date-only providers store, and read back as written.
        body["due"] = f"{patch['due']}T00:00:00Z"
    return body


def from_crm(task: Mapping[str, Any], statuses: StatusMap, tz: ZoneInfo) -> dict[str, Any]:
    due = parse_instant(task.get("dueDate"))
    local = due.astimezone(tz) if due else None
    status = statuses.mailbox(task.get("status"))
    priority = task.get("priority") if task.get("priority") in IMPORTANCE else "normal"
    return {
        "title": task.get("subject") or "",
        "notes": task.get("description") or "",
        "status": status,
        "priority": priority,
        "due": local.date().isoformat() if local else None,
        "dueTime": local.time().isoformat("seconds") if local else None,
        "completed": utc_text(task.get("completedAt")) if status == "completed" else None,
    }


def to_crm(
    fields: Mapping[str, Any],
    statuses: StatusMap,
    tz: ZoneInfo,
    due_time: str | None = None,
) -> dict[str, Any]:
    """A CRM task payload (create: all fields; update: the patch only). `due_time` is the
    time of day the CRM holds now (kept when only the date changes)."""
    body: dict[str, Any] = {}
    if "title" in fields:
        body["subject"] = fields["title"] or "(no title)"
    if "notes" in fields:
        body["description"] = fields["notes"] or None
    if "status" in fields:
        body["status"] = statuses.crm(fields["status"])
        if fields["status"] == "completed" and "completed" not in fields:
            body["completedAt"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        elif fields["status"] != "completed":
            body["completedAt"] = None
    if "priority" in fields:
        body["priority"] = fields["priority"]
    if "due" in fields:
        body["dueDate"] = due_instant(fields["due"], fields.get("dueTime") or due_time, tz)
    if fields.get("completed"):
        body["completedAt"] = fields["completed"]
    return body


def due_instant(day: str | None, clock: str | None, tz: ZoneInfo) -> str | None:
    """A CRM due instant for a calendar date in the CRM user's zone (midnight when no time)."""
    if not day:
        return None
    when = time.fromisoformat(clock) if clock else time(0, 0)
    local = datetime.combine(date.fromisoformat(day), when.replace(tzinfo=None), tzinfo=tz)
    return local.isoformat()


def active(fields: Mapping[str, Any]) -> bool:
    return fields.get("status") != "completed"
