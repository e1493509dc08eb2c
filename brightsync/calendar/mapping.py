"""How a calendar event maps between mailbox and CRM: the common field vocabulary (pure).

Works on Aurinko Event dicts and CRM event dicts whose every field may be missing or of the
wrong type. The common field vocabulary (what the two-way core compares; JSON-plain values,
lists not tuples, so a value read back from storage compares equal):

- ``subject``, ``location``: strings ('' when none);
- ``description``: string; absent on a private event (the CRM copy carries none);
- ``allDay``: bool; ``start`` / ``end``: the event's time (see calendar/times.py);
- ``private``: bool;
- ``attendees``: sorted attendee addresses; ``responses``: sorted ``[address, status]`` pairs
  in the CRM's spelling (accepted, tentative, declined, needsAction). Responses are read-only
  in the mailbox (each attendee answers in their own calendar), so they flow to the CRM only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brightsync.calendar.meetings import address_of, is_private, organizer_of
from brightsync.calendar.times import When, crm_when, mailbox_times, mailbox_when

# Aurinko attendee response (spelled "tentitive" by the API) <-> CRM attendee status.
_TO_CRM = {
    "accepted": "accepted",
    "tentitive": "tentative",
    "tentative": "tentative",
    "declined": "declined",
}
_TO_MAILBOX = {"accepted": "accepted", "tentative": "tentitive", "declined": "declined"}
NEEDS_ACTION = "needsAction"


# --- RSVP -------------------------------------------------------------------------------------


def rsvp_to_crm(response: object) -> str:
    """An Aurinko attendee response as the CRM's status; no answer yet is needsAction."""
    if isinstance(response, str):
        return _TO_CRM.get(response.strip().lower(), NEEDS_ACTION)
    return NEEDS_ACTION


def rsvp_to_mailbox(status: object) -> str | None:
    """A CRM status in Aurinko's spelling ("tentitive"); None for no answer."""
    if isinstance(status, str):
        return _TO_MAILBOX.get(status.strip().lower())
    return None


def _offset(value: str) -> str:
    return value.replace("Z", "+00:00")


# --- mapping ----------------------------------------------------------------------------------


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def mailbox_fields(event: Mapping[str, Any], private: bool | None = None) -> dict[str, Any] | None:
    """An Aurinko event in the common vocabulary; None when it has no usable time."""
    when = mailbox_when(event)
    if when is None:
        return None
    private = is_private(event) if private is None else private
    responses: dict[str, str] = {}
    info = event.get("meetingInfo")
    attendees = info.get("attendees") if isinstance(info, Mapping) else None
    for att in attendees if isinstance(attendees, list) else []:
        if isinstance(att, Mapping) and att.get("type") != "resource":
            addr = address_of(att.get("emailAddress"))
            if addr:
                responses.setdefault(addr, rsvp_to_crm(att.get("response")))
    organizer = organizer_of(event)
    if organizer:
        responses.setdefault(organizer, "accepted")
    return _fields(event, when, private, responses)


def _fields(
    event: Mapping[str, Any], when: When, private: bool, responses: dict[str, str]
) -> dict[str, Any]:
    """The common fields of either side's event, once its time, privacy and answers are read:
    a private event's description never syncs."""
    fields: dict[str, Any] = {
        "subject": _text(event.get("subject")),
        "location": _text(event.get("location")),
        "allDay": when.all_day,
        "start": when.start,
        "end": when.end,
        "private": private,
        "attendees": sorted(responses),
        "responses": sorted([a, s] for a, s in responses.items()),
    }
    if not private:
        fields["description"] = _text(event.get("description"))
    return fields


def crm_fields(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A CRM event in the common vocabulary; None when it has no usable time."""
    when = crm_when(event)
    if when is None:
        return None
    private = event.get("private") is True
    responses: dict[str, str] = {}
    attendees = event.get("attendees")
    for att in attendees if isinstance(attendees, list) else []:
        if isinstance(att, Mapping):
            addr = address_of(att.get("emailAddress"))
            if addr:
                status = att.get("status")
                responses.setdefault(addr, rsvp_to_crm(status) if status else NEEDS_ACTION)
    return _fields(event, when, private, responses)


def when_of(fields: Mapping[str, Any]) -> When:
    return When(str(fields["start"]), str(fields["end"]), bool(fields.get("allDay")))


def crm_payload(
    fields: Mapping[str, Any],
    *,
    users: Mapping[str, str] | None = None,
    contacts: Mapping[str, str] | None = None,
    related_to: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A CRM create/patch body from common fields (only those present): internal attendees
    carry their CRM `userId`, matched external ones their `contactId`."""
    users, contacts = users or {}, contacts or {}
    body: dict[str, Any] = {}
    for key in ("subject", "location"):
        if key in fields:
            body[key] = fields[key]
    # A patch may carry one bound only: each value says itself whether it is a date or an
    # instant, so it is written alone.
    for key, name in (("start", "startTime"), ("end", "endTime")):
        if key in fields:
            value = str(fields[key])
            body[name] = f"{value}T00:00:00+00:00" if len(value) == 10 else _offset(value)
    if "allDay" in fields:
        body["allDay"] = bool(fields["allDay"])
    if "private" in fields:
        body["private"] = bool(fields["private"])
        if fields["private"]:
            body["description"] = None
    if "description" in fields and not fields.get("private"):
        body["description"] = fields["description"]
    if "attendees" in fields or "responses" in fields:
        statuses = dict(fields.get("responses") or [])
        body["attendees"] = [
            {
                "emailAddress": addr,
                "status": statuses.get(addr, NEEDS_ACTION),
                "userId": users.get(addr),
                "contactId": contacts.get(addr),
            }
            for addr in fields.get("attendees") or sorted(statuses)
        ]
    if related_to is not None:
        body["relatedTo"] = dict(related_to)
    return body


def mailbox_payload(
    fields: Mapping[str, Any], *, timezone: str | None, organizer: str | None = None
) -> dict[str, Any]:
    """An Aurinko create/patch body from common fields (only those present). Responses are
    the attendees' own answers and are never written."""
    body: dict[str, Any] = {}
    for key in ("subject", "location", "description"):
        if key in fields:
            body[key] = fields[key]
    for key in ("start", "end"):
        if key in fields:
            value = str(fields[key])
            when = When(value, value, len(value) == 10)
            body[key] = mailbox_times(when, timezone)["start"]
    if "private" in fields:
        body["sensitivity"] = "private" if fields["private"] else "normal"
    if "attendees" in fields:
        body["meetingInfo"] = {
            "attendees": [
                {"emailAddress": {"address": a}, "type": "required"}
                for a in fields["attendees"]
                if a != organizer
            ]
        }
    return body
