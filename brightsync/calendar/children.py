"""CRMs that store one child event per attendee, each with `parentId` of the parent: read as
one meeting, the parent (pure).

The calendar requirements allow such CRMs (Salesforce's invitee copies are one). A child is
its attendee's copy of the parent's meeting: it is never a meeting of its own (no mailbox
event, no claim, no link), its attendee is one of the parent's (added when the parent does
not list them, and the child's answer is that attendee's answer), and every write goes to
the parent. A family read in part (a delta holding a child but not its parent, or not all its
children) is completed by the adapter before it is folded (`families_to_complete`).

Works on CRM event dicts whose every field may be missing or of the wrong type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brightsync.calendar.meetings import address_of
from brightsync.times import parse_instant

# Answers that say nothing yet: a child's answer replaces them, never the other way round.
_NO_ANSWER = frozenset({"", "needsaction", "none"})


def parent_id(event: Mapping[str, Any]) -> str | None:
    """The parent's id of a child event; None for a parent or a plain event."""
    raw = event.get("parentId")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        return None
    parent = str(raw)
    return None if parent == str(event.get("id")) else parent


def _answered(status: object) -> bool:
    return isinstance(status, str) and status.strip().lower() not in _NO_ANSWER


def _address(attendee: object) -> str | None:
    return address_of(attendee.get("emailAddress")) if isinstance(attendee, Mapping) else None


def fold_family(parent: Mapping[str, Any], children: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parent as the one meeting of its family: each child's attendee is one of its
    attendees (added when missing; the child's answer, ids it knows, when the parent's says
    nothing), and it was last modified when any of them was."""
    attendees: list[dict[str, Any]] = [
        dict(a) for a in parent.get("attendees") or [] if isinstance(a, Mapping)
    ]
    index = {addr: i for i, a in enumerate(attendees) if (addr := _address(a))}
    modified = [parent.get("lastModifiedAt")]
    for child in children:
        modified.append(child.get("lastModifiedAt"))
        for att in child.get("attendees") or []:
            addr = _address(att)
            if addr is None:
                continue
            if addr not in index:
                index[addr] = len(attendees)
                attendees.append(dict(att))
                continue
            mine = attendees[index[addr]]
            if _answered(att.get("status")) and not _answered(mine.get("status")):
                mine["status"] = att["status"]
            for key in ("userId", "contactId"):
                if mine.get(key) in (None, "") and att.get(key) not in (None, ""):
                    mine[key] = att[key]
    folded = {**parent, "attendees": attendees}
    stamps = [(at, m) for m in modified if (at := parse_instant(m)) is not None]
    if stamps:
        folded["lastModifiedAt"] = max(stamps)[1]
    return folded


@dataclass(frozen=True)
class Folded:
    """A read's events as meetings: parents (folded) and plain events, in the order read."""

    meetings: list[dict[str, Any]]
    children: dict[str, str] = field(default_factory=dict)  # child id -> parent id
    orphans: list[str] = field(default_factory=list)  # parents of children, not in the read


def fold(events: Iterable[Mapping[str, Any]]) -> Folded:
    """Children folded into their parents; a child whose parent is not among the events is
    left out (its parent id is in `orphans`). The last copy of an id read wins."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for event in events:
        if event.get("id") not in (None, ""):
            by_id.pop(str(event["id"]), None)  # re-read: the later copy, in its place
            by_id[str(event["id"])] = event
    families: dict[str, list[Mapping[str, Any]]] = {}
    children: dict[str, str] = {}
    for event_id, event in by_id.items():
        parent = parent_id(event)
        if parent is not None:
            children[event_id] = parent
            families.setdefault(parent, []).append(event)
    meetings = [
        fold_family(event, families.get(event_id, ())) if event_id in families else dict(event)
        for event_id, event in by_id.items()
        if event_id not in children
    ]
    orphans = [p for p in families if p not in by_id]
    return Folded(meetings, children, orphans)


def families_to_complete(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Parent ids whose family a delta read holds in part: every parent of a child read
    (its other children, and the parent itself when missing, are read again)."""
    return list(dict.fromkeys(p for e in events if (p := parent_id(e)) is not None))
