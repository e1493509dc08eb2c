"""'Why?' for any record an organisation synced: one explainer per kind, found by name.

Email, meeting, contact and task explainers are registered here (`register("meeting", fn)`);
the admin API, CLI and dashboard serve them all through `explain` without knowing the kinds.
Contacts and tasks share one explainer of two-way status rows (`ops/why_links.py`), keyed by
either side's id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

# kind -> function(session, org_id, key) -> explanation dict, or None when nothing is known.
Explainer = Callable[[Session, int, str], dict[str, Any] | None]
EXPLAINERS: dict[str, Explainer] = {}
KEY_HINTS: dict[str, str] = {}


def register(kind: str, explainer: Explainer, key_hint: str) -> None:
    EXPLAINERS[kind] = explainer
    KEY_HINTS[kind] = key_hint


class UnknownKind(LookupError):
    pass


def explain(session: Session, org_id: int, kind: str, key: str) -> dict[str, Any] | None:
    explainer = EXPLAINERS.get(kind)
    if explainer is None:
        raise UnknownKind(kind)
    found = explainer(session, org_id, key)
    return None if found is None else {"kind": kind, "key": key, **found}


def _email(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
    from brightsync.email.decisions import describe_message

    return describe_message(session, org_id, key)


register("email", _email, "the message's RFC 822 Message-ID")


def _meeting(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
    """The meeting's claim and copies by meeting key, with its two-way calendar link when it
    has a CRM event; by an event id (mailbox or CRM), that link alone."""
    from brightsync.calendar.claims import describe_meeting
    from brightsync.ops.why_links import describe_link

    found = describe_meeting(session, org_id, key)
    if found is None:
        return describe_link(session, org_id, "calendar", key)
    if found.get("crmEventId"):
        link = describe_link(session, org_id, "calendar", found["crmEventId"])
        if link is not None:
            found["calendarLink"] = link
    return found


register(
    "meeting",
    _meeting,
    "the meeting key (ical:<iCalUid>, plus |<original start>), or a mailbox or CRM event id",
)


def _link_explainer(domain: str) -> Explainer:
    """The explainer of a two-way domain's status rows, keyed by either side's id."""

    def explain_link(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
        from brightsync.ops.why_links import describe_link

        return describe_link(session, org_id, domain, key)

    return explain_link


register("contact", _link_explainer("contacts"), "the mailbox contact's id or the CRM contact's id")
register("task", _link_explainer("tasks"), "the mailbox task's id or the CRM task's id")
