"""Tasks: the mapping between mailbox tasks (Aurinko), CRM tasks and the two-way core's fields.

Pure: plain values in, plain values out. The common fields:

- ``title``, ``notes``: the mailbox's title/notes, the CRM's subject/description.
- ``status``: the mailbox's vocabulary (notStarted, inProgress, completed, waitingOnOthers,
  deferred). Common CRM vocabularies are read without a map (case, spaces and underscores
  ignored), a CRM task with ``completedAt`` is completed, and the org's optional `statusMap`
  (CRM value -> mailbox value) adds or overrides words; several CRM values may map to one
  mailbox value, and the CRM's finer value is then never overwritten, because the core writes
  a field only when its common value changed. Writes use the CRM's own word (`StatusMap`).
- ``priority``: the mailbox's importance (low, normal, high) <-> the CRM's priority.
- ``due``: a calendar date, ``YYYY-MM-DD``. Mailbox providers often keep the date only; the
  date is read as written (no time-zone shift). A CRM due instant is read as a date in the CRM
  user's time zone, and its time of day is a CRM-only field (``dueTime``) that no mailbox edit
  touches: a new due date from the mailbox keeps the CRM's time.
- ``completed``: when it was completed (UTC, seconds).
- The CRM's ``relatedTo`` is not a common field: it is never written from the mailbox.
"""

from __future__ import annotations

import re
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


def status_key(value: str) -> str:
    """A CRM status as compared: case, spaces, underscores and hyphens ignored, so "Not
    Started", "NOT_STARTED" and "not-started" are one value."""
    return re.sub(r"[\s_-]+", "", value).casefold()


# The words common CRMs use (Salesforce, Dynamics, Zoho, HubSpot, and the mailbox's own), read
# without any map. Compared by `status_key`.
COMMON_STATUSES: dict[str, str] = {
    status_key(word): mailbox
    for mailbox, words in {
        "notStarted": ("Not Started", "Open", "To Do"),
        "inProgress": ("In Progress", "Started"),
        "completed": ("Completed", "Complete", "Done"),
        "waitingOnOthers": (
            "Waiting on someone else",
            "Waiting on others",
            "Waiting",
            "Waiting for input",
        ),
        "deferred": ("Deferred",),
    }.items()
    for word in (mailbox, *words)
}

# Whole vocabularies of common CRMs: when the CRM's word for a status was never seen and the
# org maps none onto it, the vocabulary the words seen for its other statuses belong to gives
# it ("Not Started" seen: a completion is written "Completed").
VOCABULARIES: dict[str, dict[str, str]] = {
    # Salesforce, Dynamics and Zoho share it.
    "salesforce": {
        "notStarted": "Not Started",
        "inProgress": "In Progress",
        "completed": "Completed",
        "waitingOnOthers": "Waiting on someone else",
        "deferred": "Deferred",
    },
    "hubspot": {
        "notStarted": "NOT_STARTED",
        "inProgress": "IN_PROGRESS",
        "completed": "COMPLETED",
        "waitingOnOthers": "WAITING",
        "deferred": "DEFERRED",
    },
}


class StatusMap:
    """CRM status <-> mailbox status.

    Reading: the org's `tasks.statusMap` (CRM -> mailbox; exact, then by `status_key`), else
    the common vocabularies (COMMON_STATUSES), else notStarted; a task with `completedAt` set
    is completed whatever its status says.

    Writing: the CRM's own word: the last CRM value seen for that status (`seen`, mailbox
    status -> CRM value, remembered per org by the caller), else the first CRM value the org
    mapped onto it, else the word of the vocabulary (VOCABULARIES) the other seen words belong
    to, else the contract's word (the mailbox's, which a connector knowing nothing else takes).
    `learn` records a value read.
    """

    def __init__(
        self,
        crm_to_mailbox: Mapping[str, str] | None = None,
        seen: Mapping[str, str] | None = None,
    ) -> None:
        self.explicit = {k: v for k, v in (crm_to_mailbox or {}).items() if v in MAILBOX_STATUSES}
        self.by_key = {status_key(k): v for k, v in self.explicit.items()}
        self.seen = {k: v for k, v in (seen or {}).items() if k in MAILBOX_STATUSES and v}
        self.mapped: dict[str, str] = {}
        for crm, mailbox in self.explicit.items():
            self.mapped.setdefault(mailbox, crm)

    def recognised(self, crm_status: str | None) -> str | None:
        """The mailbox status a CRM value names, or None when it names none we know."""
        if not crm_status:
            return None
        if crm_status in self.explicit:
            return self.explicit[crm_status]
        key = status_key(crm_status)
        return self.by_key.get(key) or COMMON_STATUSES.get(key)

    def mailbox(self, crm_status: str | None, completed_at: str | None = None) -> str:
        if completed_at:
            return "completed"
        return self.recognised(crm_status) or "notStarted"

    def crm(self, mailbox_status: str) -> str:
        return (
            self.seen.get(mailbox_status)
            or self.mapped.get(mailbox_status)
            or self.vocabulary().get(mailbox_status)
            or mailbox_status
        )

    def vocabulary(self) -> dict[str, str]:
        """The common vocabulary most of the seen words belong to (empty: none)."""
        words = set(self.seen.values())
        scores = {name: len(words & set(v.values())) for name, v in VOCABULARIES.items()}
        best = max(scores, key=lambda name: scores[name])
        return VOCABULARIES[best] if scores[best] else {}

    def learn(self, crm_status: str | None) -> bool:
        """Remember a CRM value read as the CRM's word for the status it names; True when
        that is news. Unrecognised values are never learned (they read as notStarted only for
        want of a better answer)."""
        mailbox = self.recognised(crm_status)
        if mailbox is None or self.seen.get(mailbox) == crm_status:
            return False
        assert crm_status is not None
        self.seen[mailbox] = crm_status
        return True


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
    status = statuses.mailbox(task.get("status"), task.get("completedAt"))
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
