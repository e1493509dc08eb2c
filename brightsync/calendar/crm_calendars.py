"""Which of a user's CRM calendars their meetings go to, for CRMs with several calendars per
user (`GET /calendars`, capability `calendars`) (pure).

The org setting `calendar.crmCalendar` names it: "primary" (the default: the calendar the CRM
marks `primary`), else a calendar id, else a calendar name (compared case-insensitively). A
user who has no calendar by that name or id gets their primary one (the run counts
`crm_calendar_missing`). Meetings BrightSync creates carry the chosen `calendarId`; a CRM
event in another calendar of the same user is not theirs to sync (it is left where it is);
an event that names no calendar, or a calendar not the user's, is read as without calendars.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRIMARY = "primary"


def _id(calendar: Mapping[str, Any]) -> str | None:
    raw = calendar.get("id")
    return None if raw in (None, "") or isinstance(raw, bool) else str(raw)


def choose(calendars: Iterable[Mapping[str, Any]], wanted: str) -> tuple[str | None, bool]:
    """(the chosen calendar's id, whether the setting found it). Falls back to the primary
    calendar, else the only one; (None, …) when the user has none to choose from."""
    listed = [c for c in calendars if isinstance(c, Mapping) and _id(c)]
    primary = next((c for c in listed if c.get("primary") is True), None)
    if primary is None and len(listed) == 1:
        primary = listed[0]
    fallback = _id(primary) if primary is not None else None
    name = (wanted or PRIMARY).strip()
    if name.lower() == PRIMARY:
        return fallback, fallback is not None
    for calendar in listed:
        if _id(calendar) == name:
            return name, True
    for calendar in listed:
        title = calendar.get("name")
        if isinstance(title, str) and title.strip().lower() == name.lower():
            return _id(calendar), True
    return fallback, False


@dataclass(frozen=True)
class CalendarScope:
    """One user's CRM calendars as the sync sees them."""

    chosen: str | None = None  # where their meetings go (None: the CRM's default)
    others: frozenset[str] = frozenset()  # their other calendars: not synced as theirs
    found: bool = True  # the setting named a calendar they have

    @classmethod
    def of(cls, calendars: Iterable[Mapping[str, Any]], wanted: str) -> CalendarScope:
        listed = [c for c in calendars if isinstance(c, Mapping)]
        chosen, found = choose(listed, wanted)
        ids = {i for c in listed if (i := _id(c))}
        return cls(chosen, frozenset(ids - {chosen} if chosen else set()), found)

    def says(self, event: Mapping[str, Any]) -> bool | None:
        """True: the event is in the chosen calendar; False: in another of the user's; None:
        its calendar says nothing about this user."""
        raw = event.get("calendarId")
        if raw in (None, "") or isinstance(raw, bool):
            return None
        calendar = str(raw)
        if calendar == self.chosen:
            return True
        return False if calendar in self.others else None
