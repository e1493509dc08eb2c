"""'Why?' for any record an organisation synced: one explainer per kind, found by name.

The email explainer answers today; meetings, contacts and tasks register theirs as their
domains land (`register("meeting", fn)`), and the admin API, CLI and dashboard serve them all
through `explain` without knowing the kinds.
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
    from brightsync.calendar.claims import describe_meeting

    return describe_meeting(session, org_id, key)


register("meeting", _meeting, "the meeting key (ical:<iCalUid>, plus |<original start>)")
