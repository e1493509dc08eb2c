"""Which calendar events sync, and what makes copies of one meeting the same (pure).

Everything here works on Aurinko Event dicts whose every field may be missing or of the
wrong type: a malformed event is skipped with a reason, never a crash. The org's calendar
settings (`CalendarPolicy`) decide which events sync; the meeting key says which events in
several colleagues' calendars are one meeting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from brightsync.calendar.recurrence import MAX_OCCURRENCES, original_start
from brightsync.calendar.times import mailbox_when
from brightsync.people.addresses import normalize_address
from brightsync.people.domains import (
    in_domains,
    is_excluded,
    normalize_addresses,
    normalize_domains,
)

SENSITIVE = frozenset({"private", "personal", "confidential"})
MAX_KEY_LENGTH = 400

# Skip reasons.
SKIP_MALFORMED = "malformed"
SKIP_PRIVATE = "private"
SKIP_PERSONAL = "personal"  # nobody else invited
SKIP_INTERNAL = "internal"  # colleagues only
SKIP_EXCLUDED = "excluded"  # an attendee (organizer included) is on an exclusion list
CANCELLED = "cancelled"
# Skips that take an already synced event out of the CRM (the others only keep new ones out).
# An excluded attendee does, like privacy: the CRM copy would otherwise come to name them.
LEAVES_CRM = frozenset({SKIP_MALFORMED, SKIP_PRIVATE, SKIP_EXCLUDED})


# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarPolicy:
    """The organisation's calendar settings (see crm/settings.py) plus its domains.

    The exclusion lists are the union of `email.exclude…` and `calendar.exclude…`: a person
    excluded from the CRM for email is kept out of it for meetings too.
    """

    org_domains: tuple[str, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    exclude_addresses: frozenset[str] = frozenset()
    sync_private: bool = False
    sync_internal: bool = False
    sync_personal: bool = False
    past_days: int = 30
    future_days: int = 180
    max_occurrences: int = MAX_OCCURRENCES

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, domains: Iterable[str] | None
    ) -> CalendarPolicy:
        """Build from an org's `settings` (whole dict, or just its 'calendar' part: then
        email's exclusion lists are not known and only calendar's apply)."""
        cal = settings if isinstance(settings, Mapping) else {}
        email = cal.get("email") if isinstance(cal.get("email"), Mapping) else {}
        if isinstance(cal.get("calendar"), Mapping):
            cal = cal["calendar"]
        return cls(
            org_domains=normalize_domains(domains),
            exclude_domains=normalize_domains(
                [*_listed(email.get("excludeDomains")), *_listed(cal.get("excludeDomains"))]
            ),
            exclude_addresses=normalize_addresses(email.get("excludeAddresses"))
            | normalize_addresses(cal.get("excludeAddresses")),
            sync_private=cal.get("syncPrivate") is True,
            sync_internal=cal.get("syncInternal") is True,
            sync_personal=cal.get("syncPersonal") is True,
            past_days=_int(cal.get("pastDays"), 30),
            future_days=_int(cal.get("futureDays"), 180),
        )

    def is_internal(self, address: str) -> bool:
        return bool(self.org_domains) and in_domains(address.rsplit("@", 1)[-1], self.org_domains)

    def is_excluded(self, address: str) -> bool:
        """`address` must already be normalised."""
        return is_excluded(address, self.exclude_domains, self.exclude_addresses)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(days=self.past_days), now + timedelta(days=self.future_days)


def _listed(value: object) -> list[object]:
    """A settings list as a list ('x.com' alone counts as one entry; junk as none)."""
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, list | tuple | set | frozenset) else []


def _int(value: object, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


# --- the meeting key --------------------------------------------------------------------------


def address_of(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("address") if "address" in value else value.get("emailAddress")
        if isinstance(value, Mapping):
            value = value.get("address")
    return normalize_address(value) if isinstance(value, str) else None


def organizer_of(event: Mapping[str, Any]) -> str | None:
    organizer = event.get("organizer")
    return address_of(organizer.get("emailAddress")) if isinstance(organizer, Mapping) else None


def meeting_key(event: Mapping[str, Any]) -> str | None:
    """The org-wide identity of a meeting: every attendee's copy of it has the same key.

    The iCalUid (plus the original start for an occurrence of a series); without one, a
    digest of organizer, (original) start and subject. None when even those are missing.
    """
    uid = event.get("iCalUid") or event.get("iCalUId")
    occurrence = original_start(event)
    if isinstance(uid, str) and uid.strip():
        key = f"ical:{uid.strip()}" + (f"|{occurrence}" if occurrence else "")
        if len(key) <= MAX_KEY_LENGTH:
            return key
        return "ical#" + hashlib.sha256(key.encode()).hexdigest()
    when = mailbox_when(event)
    organizer = organizer_of(event)
    subject = event.get("subject") if isinstance(event.get("subject"), str) else ""
    start = occurrence or (when.start if when else None)
    if start is None or organizer is None:
        return None
    digest = hashlib.sha256(f"{organizer}\n{start}\n{subject.strip()}".encode()).hexdigest()
    return f"fp:{digest}"


# --- which events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDecision:
    action: str  # "sync" | "skip" | "cancel" (a cancelled meeting: delete its CRM copy)
    reason: str  # "meeting" / "internal" / "personal" when synced, else why not
    external: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()
    private: bool = False

    @property
    def syncs(self) -> bool:
        return self.action == "sync"


def attendee_addresses(event: Mapping[str, Any]) -> list[str]:
    """Invited people (not rooms), the organizer included, normalised and deduplicated."""
    out: list[str] = []
    info = event.get("meetingInfo")
    attendees = info.get("attendees") if isinstance(info, Mapping) else None
    for att in attendees if isinstance(attendees, list) else []:
        if not isinstance(att, Mapping) or att.get("type") == "resource":
            continue
        addr = address_of(att.get("emailAddress"))
        if addr and addr not in out:
            out.append(addr)
    organizer = organizer_of(event)
    if organizer and organizer not in out:
        out.insert(0, organizer)
    return out


def is_private(event: Mapping[str, Any]) -> bool:
    value = event.get("sensitivity")
    return isinstance(value, str) and value.strip().lower() in SENSITIVE


def is_cancelled(event: Mapping[str, Any]) -> bool:
    info = event.get("meetingInfo")
    occurrence = event.get("occurrenceInfo")
    return (isinstance(info, Mapping) and info.get("canceled") is True) or (
        isinstance(occurrence, Mapping) and occurrence.get("type") == "deleted"
    )


def classify(event: Mapping[str, Any], policy: CalendarPolicy, owner: str) -> EventDecision:
    """Does this event of `owner`'s calendar sync? (Matching external attendees comes later:
    a meeting whose external attendees match nobody waits in the sync cache.)"""
    if not isinstance(event, Mapping) or mailbox_when(event) is None:
        return EventDecision("skip", SKIP_MALFORMED)
    if is_cancelled(event):
        return EventDecision("cancel", CANCELLED)
    private = is_private(event)
    if private and not policy.sync_private:
        return EventDecision("skip", SKIP_PRIVATE, private=True)
    owner = normalize_address(owner) or owner
    people = attendee_addresses(event)
    if any(policy.is_excluded(a) for a in people):
        return EventDecision("skip", SKIP_EXCLUDED, private=private)
    external = tuple(a for a in people if not policy.is_internal(a))
    internal = tuple(a for a in people if policy.is_internal(a))
    others = [a for a in people if a != owner]
    if not others:
        if policy.sync_personal:
            return EventDecision("sync", SKIP_PERSONAL, external, internal, private)
        return EventDecision("skip", SKIP_PERSONAL, external, internal, private)
    if not external:
        if policy.sync_internal:
            return EventDecision("sync", SKIP_INTERNAL, external, internal, private)
        return EventDecision("skip", SKIP_INTERNAL, external, internal, private)
    return EventDecision("sync", "meeting", external, internal, private)
