"""Record shapes of the simulated Aurinko API (components.schemas of its OpenAPI document).

Pure helpers: time formatting, address and record normalisation. A record leaves the
simulator with only documented properties and never a `null` (the schemas are not nullable).
"""

from __future__ import annotations

import copy
import html
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

PROVIDERS = {
    # provider -> (serviceType, serviceProvider) of ApiAccountOutDto
    "google": ("Google", "Google"),
    "office365": ("Office365", "Office365"),
    "imap": ("IMAP", "IMAP"),
}

SYS_LABELS = frozenset(
    {"junk", "trash", "sent", "inbox", "unread", "flagged", "important", "draft"}
)

EVENT_WRITABLE = frozenset(
    {
        "subject",
        "description",
        "location",
        "start",
        "end",
        "meetingInfo",
        "recurrence",
        "reminder",
        "showAs",
        "sensitivity",
        "attachments",
    }
)
# What a user's own mailbox client may set beyond the API's writable fields (control API).
EVENT_MAILBOX_ONLY = frozenset(
    {"organizer", "iCalUid", "globalId", "categories", "recurrenceType", "occurrenceInfo"}
)
ATTACHMENT_FIELDS = frozenset(
    {"id", "name", "mimeType", "size", "inline", "contentId", "content", "contentLocation"}
)
ATTENDEE_FIELDS = frozenset({"id", "emailAddress", "type", "response", "comment"})
MEETING_INFO_FIELDS = frozenset(
    {
        "canceled",
        "attendees",
        "response",
        "attendeePermissions",
        "onlineMeetingProvider",
        "onlineMeetingDetails",
    }
)
CONTACT_WRITABLE = frozenset(
    {
        "name",
        "nickName",
        "fileAs",
        "company",
        "relations",
        "birthday",
        "keywords",
        "notes",
        "emailAddresses",
        "phoneNumbers",
        "addresses",
        "urls",
    }
)
TASK_WRITABLE = frozenset(
    {"title", "parentId", "notes", "status", "importance", "due", "startDateTime", "categories"}
)
TASK_MAILBOX_ONLY = frozenset({"completed", "links", "owner", "position"})
TASK_STATUSES = frozenset({"notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"})
TASK_IMPORTANCE = frozenset({"low", "normal", "high"})


class ApiFailure(Exception):
    """An error answer of the API: `{code, message, requestId}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "requestId": str(uuid.uuid4())}


def bad_request(message: str, code: str = "badRequest") -> ApiFailure:
    return ApiFailure(400, code, message)


def not_found(what: str) -> ApiFailure:
    return ApiFailure(404, "notFound", f"{what} not found")


# --- time -----------------------------------------------------------------------------------


def iso(ts: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2024-05-01T10:00:00.123Z."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp or a plain date (midnight UTC); None if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    text = str(value).strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def clean(value: Any) -> Any:
    """A deep copy without None values (and without keys that start with an underscore)."""
    if isinstance(value, dict):
        return {
            k: clean(v)
            for k, v in value.items()
            if v is not None and not (isinstance(k, str) and k.startswith("_"))
        }
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return copy.deepcopy(value)


# --- addresses and bodies -------------------------------------------------------------------


def address(value: Any) -> dict[str, str] | None:
    """`{name, address}` from a dict or a bare string; None when there is no address."""
    if isinstance(value, str):
        value = {"address": value}
    if not isinstance(value, dict):
        return None
    addr = str(value.get("address") or "").strip()
    if not addr:
        return None
    out = {"address": addr}
    if value.get("name"):
        out["name"] = str(value["name"])
    return out


def addresses(values: Any) -> list[dict[str, str]]:
    if values is None:
        return []
    if not isinstance(values, list):
        values = [values]
    return [a for a in (address(v) for v in values) if a is not None]


def format_address(a: dict[str, str]) -> str:
    return f'"{a["name"]}" <{a["address"]}>' if a.get("name") else a["address"]


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def html_to_text(body: str) -> str:
    body = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", "", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", body)
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", body))).strip()


def text_to_html(body: str) -> str:
    return "<div>" + html.escape(body).replace("\n", "<br>") + "</div>"


def render_body(body: str, stored_type: str, wanted: str) -> str:
    if wanted == stored_type:
        return body
    return html_to_text(body) if wanted == "text" else text_to_html(body)


def snippet(body: str, body_type: str) -> str:
    text = html_to_text(body) if body_type == "html" else body
    return " ".join(text.split())[:200]


# --- events, contacts, tasks ----------------------------------------------------------------


def _event_time(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object with dateTime or dateOnly")
    if value.get("dateOnly"):
        try:
            date.fromisoformat(str(value["dateOnly"]))
        except ValueError:
            raise bad_request(f"{field}.dateOnly is not a date (YYYY-MM-DD)") from None
        return {"dateOnly": str(value["dateOnly"])}
    if value.get("dateTime"):
        if parse_time(value["dateTime"]) is None or len(str(value["dateTime"])) <= 10:
            raise bad_request(f"{field}.dateTime is not an RFC 3339 timestamp")
        out = {"dateTime": str(value["dateTime"])}
        if value.get("timezone"):
            out["timezone"] = str(value["timezone"])
        return out
    raise bad_request(f"{field} needs dateTime or dateOnly")


def event_bounds(event: dict[str, Any]) -> tuple[float, float]:
    """(start, end) in epoch seconds; an all-day event spans whole UTC days."""
    start = event.get("start") or {}
    end = event.get("end") or {}
    s = parse_time(start.get("dateTime") or start.get("dateOnly"))
    e = parse_time(end.get("dateTime") or end.get("dateOnly"))
    if s is None:
        s = float("-inf")
    if e is None:
        e = s
    return s, e


def series_end(event: dict[str, Any], end: float) -> float:
    """When a series master's last occurrence can end: its end date, else open (a count is
    not walked; the listing is a superset, as the provider's is for a window)."""
    simple = (event.get("recurrence") or {}).get("simple") or {}
    rng = simple.get("range") if isinstance(simple, dict) else None
    until = parse_time((rng or {}).get("recurrenceEnd")) if isinstance(rng, dict) else None
    if until is not None and str(rng.get("type") or "").lower() in ("bydate", "enddate"):
        return max(end, until + 86400)  # the end date is inclusive
    return float("inf")


def _meeting_info(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out = {k: copy.deepcopy(v) for k, v in value.items() if k in MEETING_INFO_FIELDS}
    attendees = []
    for att in value.get("attendees") or []:
        if not isinstance(att, dict):
            continue
        email = address(att.get("emailAddress"))
        if email is None:
            raise bad_request("every attendee needs emailAddress.address")
        item = {k: copy.deepcopy(v) for k, v in att.items() if k in ATTENDEE_FIELDS}
        item["emailAddress"] = email
        item.setdefault("type", "required")
        attendees.append(item)
    if "attendees" in value:
        out["attendees"] = attendees
    return clean(out)


def merge_event(
    existing: dict[str, Any] | None, body: dict[str, Any], *, mailbox: bool = False
) -> dict[str, Any]:
    """The event after applying `body` (a create when `existing` is None); validates times."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    allowed = EVENT_WRITABLE | (EVENT_MAILBOX_ONLY if mailbox else frozenset())
    event = copy.deepcopy(existing) if existing else {}
    for key, value in body.items():
        if key == "iCalUId" and mailbox:
            key = "iCalUid"
        if key not in allowed:
            continue
        if value is None:
            event.pop(key, None)
        elif key in ("start", "end"):
            event[key] = _event_time(value, key)
        elif key == "meetingInfo":
            event[key] = _meeting_info(value) or {}
        elif key == "organizer":
            email = address((value or {}).get("emailAddress"))
            if email:
                event[key] = {"emailAddress": email}
        else:
            event[key] = copy.deepcopy(value)
    if "start" not in event or "end" not in event:
        raise bad_request("an event needs start and end")
    start, end = event_bounds(event)
    if end < start:
        raise bad_request("an event cannot end before it starts")
    if event.get("sensitivity") not in (None, "normal", "private", "personal", "confidential"):
        raise bad_request("sensitivity must be normal, private, personal or confidential")
    return clean(event)


def merge_contact(
    existing: dict[str, Any] | None, body: dict[str, Any], *, mailbox: bool = False
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    contact = copy.deepcopy(existing) if existing else {}
    for key, value in body.items():
        if key not in CONTACT_WRITABLE:
            continue
        if value is None:
            contact.pop(key, None)
        else:
            contact[key] = copy.deepcopy(value)
    for item in contact.get("emailAddresses") or []:
        if not isinstance(item, dict) or not item.get("address"):
            raise bad_request("every emailAddresses item needs an address")
    name = contact.get("name")
    if isinstance(name, dict) and not name.get("displayName"):
        parts = [name.get(k) for k in ("prefix", "givenName", "middleName", "familyName", "suffix")]
        display = " ".join(p for p in parts if p)
        if display:
            name["displayName"] = display
    return clean(contact)


def google_task(task: dict[str, Any]) -> dict[str, Any]:
    """Google Tasks keep less: "needs action" or "completed", no importance, a due date
    without a time (read back as midnight UTC of the date as written)."""
    task = dict(task)
    if task.get("status") != "completed":
        task["status"] = "notStarted"
    task["importance"] = "normal"
    if task.get("due"):
        task["due"] = f"{str(task['due'])[:10]}T00:00:00Z"
    return task


def merge_task(
    existing: dict[str, Any] | None, body: dict[str, Any], *, mailbox: bool = False, now: float
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    allowed = TASK_WRITABLE | (TASK_MAILBOX_ONLY if mailbox else frozenset())
    task = copy.deepcopy(existing) if existing else {"status": "notStarted", "importance": "normal"}
    for key, value in body.items():
        if key not in allowed:
            continue
        if value is None:
            task.pop(key, None)
        else:
            task[key] = copy.deepcopy(value)
    if task.get("status") not in TASK_STATUSES:
        raise bad_request("status must be one of " + ", ".join(sorted(TASK_STATUSES)))
    if task.get("importance") not in TASK_IMPORTANCE:
        raise bad_request("importance must be low, normal or high")
    for key in ("due", "startDateTime", "completed"):
        if key in task and parse_time(task[key]) is None:
            raise bad_request(f"{key} is not an RFC 3339 timestamp")
    if task["status"] == "completed":
        task.setdefault("completed", iso(now))
    elif "completed" not in body or not mailbox:
        task.pop("completed", None)
    return clean(task)
