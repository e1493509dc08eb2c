"""Calendars in the reference CRM: `GET /calendars`, and two shapes of calendar the calendar
requirements allow. Both are off by default (one primary calendar, one event per meeting) and
chosen when the app is made (`create_crm_app(user_calendars=…, child_events=True)`) or at run
time (`POST /_control/settings {"userCalendars": [...], "childEvents": true}`); a reset goes
back to the app's own choice.

* **Several calendars per user** (`userCalendars`, e.g. `["Calendar", "Sales"]`, the first
  each user's primary): every user has those calendars (ids `cal_<user id>_<n>`), besides any
  seeded ones. An event names its calendar in `calendarId` (an unknown one is refused with
  400); without one it goes to the primary calendar of its first internal attendee, as a
  CRM files an event in its owner's default calendar.
* **Child events per attendee** (`childEvents`): an event created with several attendees is
  stored as a parent plus one child per attendee (`parentId` = the parent, that attendee its
  only one, in that attendee's primary calendar when they are a user). Changing the parent
  changes its children (an attendee leaving loses theirs, a new one gets one); deleting it
  deletes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from brightsync.sandbox.crm.errors import BadRequest
from brightsync.sandbox.crm.records import operation
from brightsync.sandbox.crm.state import crm
from brightsync.sandbox.crm.wire import body, out

calendars = Blueprint("calendars", __name__)

View = Callable[..., Any]
# What a child event copies from its parent (besides its own attendee and parentId).
SHARED_FIELDS = (
    "subject",
    "description",
    "startTime",
    "endTime",
    "location",
    "allDay",
    "private",
    "relatedTo",
)


def checked_names(value: Any) -> tuple[str, ...] | None:
    """`userCalendars` as given: null, or a non-empty list of distinct names; ValueError else."""
    if value is None:
        return None
    names = tuple(value) if isinstance(value, list | tuple) else ()
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError("userCalendars is a non-empty list of calendar names, or null")
    if len({n.strip().lower() for n in names}) != len(names):
        raise ValueError("userCalendars names each calendar once")
    return tuple(n.strip() for n in names)


def all_calendars() -> list[dict[str, Any]]:
    """Seeded calendars, then every user's calendars of the `userCalendars` shape."""
    connector = crm()
    names = connector.control.user_calendars or ()
    made = [
        {"id": f"cal_{user['id']}_{n}", "name": name, "ownerId": user["id"], "primary": n == 1}
        for user in connector.store.live("users")
        for n, name in enumerate(names, start=1)
    ]
    return connector.store.live("calendars") + made


@operation(calendars, "list")
def list_calendars() -> Any:
    owner = (request.args.get("ownerId") or "").strip()
    found = all_calendars()
    return [out("calendars", c) for c in found if not owner or str(c.get("ownerId")) == owner]


def _primary_of(user_id: Any, known: list[dict[str, Any]]) -> str | None:
    for cal in known:
        if cal.get("primary") and str(cal.get("ownerId")) == str(user_id):
            return str(cal["id"])
    return None


def _first_user(event: dict[str, Any]) -> Any:
    for att in event.get("attendees") or []:
        if isinstance(att, dict) and att.get("userId") not in (None, ""):
            return att["userId"]
    return None


def check_calendar(data: dict[str, Any]) -> None:
    """400 for a `calendarId` this CRM does not have (only when it has several calendars)."""
    wanted = data.get("calendarId")
    if wanted in (None, "") or crm().control.user_calendars is None:
        return
    if str(wanted) not in {str(c["id"]) for c in all_calendars()}:
        raise BadRequest(f"invalid event: no calendar {wanted}", {"calendarId": ["unknown"]})


def _placed(event: dict[str, Any], known: list[dict[str, Any]]) -> dict[str, Any]:
    """The event filed in its first internal attendee's primary calendar, if it names none."""
    if event.get("calendarId") not in (None, "") or crm().control.user_calendars is None:
        return event
    owner = _first_user(event)
    primary = _primary_of(owner, known) if owner is not None else None
    return {**event, "calendarId": primary} if primary else event


def _child(parent: dict[str, Any], attendee: dict[str, Any], known: list[dict[str, Any]]):
    child = {name: parent.get(name) for name in SHARED_FIELDS}
    child.update(attendees=[attendee], parentId=parent["id"], calendarId=None)
    user = attendee.get("userId")
    if user not in (None, "") and crm().control.user_calendars is not None:
        child["calendarId"] = _primary_of(user, known)
    return child


def _address(attendee: Any) -> str:
    return str((attendee or {}).get("emailAddress") or "").strip().lower()


def _family(parent: dict[str, Any]) -> None:
    """Make the parent's children mirror its attendees (see the module doc)."""
    store = crm().store
    children = [e for e in store.live("events") if str(e.get("parentId")) == str(parent["id"])]
    attendees = [a for a in parent.get("attendees") or [] if isinstance(a, dict) and _address(a)]
    if not children and len(attendees) < 2:
        return
    known = all_calendars()
    have = {_address((c.get("attendees") or [None])[0]): c for c in children}
    for attendee in attendees:
        wanted = _child(parent, attendee, known)
        current = have.pop(_address(attendee), None)
        if current is None:
            store.insert("events", wanted)
        elif any(current.get(k) != v for k, v in wanted.items()):
            store.save("events", {**current, **wanted})
    for gone in have.values():
        store.delete("events", str(gone["id"]))


def _answer(result: Any, record: dict[str, Any]) -> Any:
    """The view's answer with the record as stored now (same status and headers)."""
    if not isinstance(result, Response):
        return out("events", record)
    response = jsonify(out("events", record))
    response.status_code = result.status_code
    for name, value in result.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def event_write(action: str, view: View) -> View:
    """An event write (create, update, replace, delete) in the calendar shapes in force."""

    def wrapped(**kwargs: Any) -> Any:
        control, store = crm().control, crm().store
        if action == "delete":
            result = view(**kwargs)
            if control.child_events:
                for child in store.live("events"):
                    if str(child.get("parentId")) == str(kwargs["record_id"]):
                        store.delete("events", str(child["id"]))
            return result
        check_calendar(body())
        result = view(**kwargs)
        if control.user_calendars is None and not control.child_events:
            return result
        answered = result.get_json() if isinstance(result, Response) else result
        if not isinstance(answered, dict) or answered.get("id") in (None, ""):
            return result  # a replayed create keeps its family; a broken answer stays broken
        if isinstance(result, Response) and result.headers.get("Idempotent-Replayed"):
            return result
        with store.lock:
            record = store.get("events", str(answered["id"])) or answered
            placed = _placed(record, all_calendars())
            if placed is not record:
                record = store.save("events", placed)
            if control.child_events and record.get("parentId") in (None, ""):
                _family(record)
        return _answer(result, record)

    return wrapped
