"""'Why?' for a meeting: its claim and copies, and its two-way calendar link."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from brightsync.calendar.claims import describe_meeting
from brightsync.ops.why_links import describe_link

KEY_HINT = "the meeting key (ical:<iCalUid>, plus |<original start>), or a mailbox or CRM event id"


def explain_meeting(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
    """The meeting's claim and copies by meeting key, with its two-way calendar link when it
    has a CRM event; by an event id (mailbox or CRM), that link alone."""
    found = describe_meeting(session, org_id, key)
    if found is None:
        return describe_link(session, org_id, "calendar", key)
    if found.get("crmEventId"):
        link = describe_link(session, org_id, "calendar", found["crmEventId"])
        if link is not None:
            found["calendarLink"] = link
    return found
