"""The calendar adapter's mailbox side: one user's primary calendar, read as meetings to sync.

A read is the calendar's delta over the sync window (`pastDays`, `futureDays`). Series are
expanded into their occurrences in the window (calendar/recurrence.py); an occurrence's
mailbox id is ``<series id>#<original start>``. Each event is classified
(calendar/meetings.py); a meeting is synced only by the owner of its org-wide claim
(calendar/claims.py), so a meeting in five colleagues' calendars is one CRM event. A meeting
whose external attendees match no contact (and no CRM lead) waits in the sync cache (kind
"meeting") and is read again when one appears; a copy leaving the calendar hands the meeting
to a colleague who still holds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from brightsync.calendar import claims
from brightsync.calendar.cached import queue_runs
from brightsync.calendar.context import CalendarContext
from brightsync.calendar.mapping import mailbox_fields
from brightsync.calendar.meetings import (
    LEAVES_CRM,
    EventDecision,
    classify,
    meeting_key,
    organizer_of,
)
from brightsync.calendar.recurrence import expand, original_start
from brightsync.calendar.times import When
from brightsync.clients.crm import LookupBudgetSpent
from brightsync.clients.http import NotFoundError
from brightsync.db import session_scope
from brightsync.email.rules import Participant
from brightsync.sync.adapter import ChangeSet, Record
from brightsync.sync.delta import read_delta
from brightsync.sync_cache import cache
from brightsync.times import parse_instant

CALENDAR = "primary"
OCCURRENCE = "#"
CACHE_KIND = "meeting"
# (mailbox id, event, its decision, its meeting key)
Decided = tuple[str, dict[str, Any], EventDecision, str]


def occurrence_id(event: Mapping[str, Any]) -> str | None:
    """The mailbox id of an occurrence (computed or an exception): series id + original."""
    info = event.get("occurrenceInfo")
    original = original_start(event)
    if isinstance(info, Mapping) and info.get("masterId") and original:
        return f"{info['masterId']}{OCCURRENCE}{original}"
    return None


def mailbox_record(
    record_id: str,
    event: Mapping[str, Any],
    private: bool | None = None,
    key: str | None = None,
) -> Record:
    """A calendar event (or occurrence) as the core's record; `key`: its meeting key."""
    fields = mailbox_fields(event, private) or {}
    fields["meeting"] = key or meeting_key(event)
    return Record(
        id=record_id,
        fields=fields,
        version=event.get("etag") if OCCURRENCE not in record_id else None,
        modified=parse_instant(event.get("lastModifiedTime")),
        native=event,
    )


class MailboxCalendar:
    """One user's primary calendar, as the calendar adapter reads it."""

    def __init__(self, ctx: CalendarContext, window: tuple[datetime, datetime], me: str) -> None:
        self.ctx = ctx
        self.window = window
        self.me = me

    def changes(self, cursor: str | None) -> ChangeSet:
        """Everything changed in the calendar since `cursor` (both delta tokens, JSON)."""
        aurinko = self.ctx.aurinko
        lo, hi = self.window
        delta = read_delta(
            aurinko,
            "calendar",
            json.loads(cursor) if cursor else None,
            lambda: aurinko.start_sync("calendar", calendar_id=CALENDAR, time_min=lo, time_max=hi),
            calendar_id=CALENDAR,
        )
        events = [e for e in delta.updated if isinstance(e, dict)]
        records, deleted = self._records(self._candidates(events), delta.deleted_ids)
        return ChangeSet(tuple(records), tuple(deleted), json.dumps(delta.tokens, sort_keys=True))

    def event(self, record_id: str) -> dict[str, Any] | None:
        """The event (or occurrence) with this mailbox id now; None when it is gone."""
        series, _, original = record_id.partition(OCCURRENCE)
        try:
            event = self.ctx.aurinko.get_event(CALENDAR, series)
        except NotFoundError:
            return None
        if not original:
            return event
        near = When(original, original, "T" not in original).start_instant()
        window = (near - timedelta(days=1), near + timedelta(days=2))
        for occ in expand(event, self._exceptions(event, []), window, 10) or []:
            if occurrence_id(occ) == record_id:
                return occ
        return None

    def _candidates(self, events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """(mailbox id, event) for every single event and every occurrence in the window, plus
        the meetings the sync cache released for a second look."""
        exceptions: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            master = (e.get("occurrenceInfo") or {}).get("masterId")
            if e.get("recurrenceType") == "occurrence" and master:
                exceptions.setdefault(str(master), []).append(e)
        out: list[tuple[str, dict[str, Any]]] = []
        for e in events:
            if e.get("recurrenceType") == "master":
                series_exceptions = self._exceptions(e, exceptions.pop(str(e.get("id")), []))
                occurrences = expand(
                    e, series_exceptions, self.window, self.ctx.policy.max_occurrences
                )
                if occurrences is None:
                    self.ctx.count("series_unsupported")
                    continue
                for occ in occurrences:
                    oid = occurrence_id(occ)
                    if oid:
                        out.append((oid, occ))
            elif e.get("recurrenceType") != "occurrence" and e.get("id"):
                out.append((str(e["id"]), e))
        for items in exceptions.values():  # exceptions of series not in this delta
            for occ in items:
                oid = occurrence_id(occ)
                if oid:
                    out.append((oid, occ))
        known = {i for i, _ in out}
        with session_scope() as s:
            released = claims.released_events(s, self.ctx.user_id)
        for event_id in released:
            if event_id not in known:
                event = self.event(event_id)
                if event is not None:
                    out.append((event_id, event))
        return out

    def _exceptions(
        self, master: Mapping[str, Any], seen: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Every exception of a series: a series edit must not undo an occurrence moved or
        cancelled in an earlier delta. Those in this delta are used as they are; the rest come
        from the series description (modified ones are read, deleted ones need no read)."""
        try:
            info = self.ctx.aurinko.series(CALENDAR, str(master.get("id")))
        except NotFoundError:
            return seen
        known = {original_start(e) for e in seen}
        out = list(seen)
        for occ in info.get("deletedOccurrences") or []:
            if isinstance(occ, dict) and original_start({"occurrenceInfo": occ}) not in known:
                out.append({"occurrenceInfo": {**occ, "type": "deleted"}})
        for occ in info.get("modifiedOccurrences") or []:
            if not isinstance(occ, dict) or not occ.get("id"):
                continue
            if original_start({"occurrenceInfo": occ}) in known:
                continue
            try:
                out.append(self.ctx.aurinko.get_event(CALENDAR, str(occ["id"])))
            except NotFoundError:
                continue
        return out

    def _records(
        self, candidates: list[tuple[str, dict[str, Any]]], gone: list[str]
    ) -> tuple[list[Record], list[str]]:
        records: list[Record] = []
        deleted: list[str] = []
        decided: list[Decided] = []
        skipped: list[Decided] = []
        for record_id, event in candidates:
            decision = classify(event, self.ctx.policy, self.me)
            self.ctx.count(f"events_{decision.action}")
            key = meeting_key(event)
            if decision.action == "skip" and decision.reason not in LEAVES_CRM and key:
                skipped.append((record_id, event, decision, key))
                continue
            if decision.action != "sync" or key is None:
                # Cancelled, private, unreadable: a linked one goes from the CRM.
                deleted.append(record_id)
                continue
            decided.append((record_id, event, decision, key))
        # An event this user already syncs (one made from the CRM with nobody else invited,
        # a meeting whose external attendee left) stays in sync rather than reading as gone.
        with session_scope() as s:
            kept = claims.owned_keys(s, self.ctx.user_id, [d[3] for d in skipped])
        for record_id, event, decision, key in skipped:
            if key in kept:
                decided.append((record_id, event, replace(decision, action="sync"), key))
            else:
                deleted.append(record_id)
        owned = self._claim(decided)
        meetings = [d for d in decided if d[3] in owned]
        # One batched lookup for the people, one for the deals, for the whole page of meetings.
        attendees = sorted({a for d in meetings for a in d[2].external})
        self.ctx.matcher.prefetch(attendees)
        known = self.ctx.matcher.match(attendees)
        self.ctx.matcher.prefetch_leads(a for a in attendees if a not in known)
        contacts: dict[str, dict[str, Any]] = {}
        for record_id, event, decision, key in meetings:
            matched, leads = self._matches(event, decision, key)
            if decision.reason == "meeting" and not (matched or leads):
                continue
            contacts.update({str(c.get("id")): c for c in matched.values()})
            records.append(mailbox_record(record_id, event, decision.private, key))
        if contacts:
            self.ctx.matcher.prefetch_opportunities(list(contacts.values()))
        claims.rechecked(self.ctx.org_id, [r.fields["meeting"] for r in records])
        deleted += self._copies_gone(gone)
        return records, deleted

    def _claim(self, decided: list[Decided]) -> set[str]:
        owned: set[str] = set()
        with session_scope() as s:
            for record_id, event, _, key in decided:
                result = claims.claim_meeting(
                    s,
                    org_id=self.ctx.org_id,
                    user_id=self.ctx.user_id,
                    key=key,
                    event_id=record_id,
                    organizer=organizer_of(event) == self.me,
                    subject=event.get("subject"),
                )
                if result.owned:
                    owned.add(key)
                else:
                    self.ctx.count("meetings_seen_elsewhere")
        return owned

    def _matches(
        self, event: Mapping[str, Any], decision: EventDecision, key: str
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The external attendees' contacts, and the CRM leads of those without one. A
        meeting syncs once one of them is a contact (auto-created under the email rules when
        allowed, never for a lead) or a lead; until then it waits in the sync cache."""
        if not decision.external:
            return {}, {}
        reason = "no external attendee matches a contact"
        try:
            matched = self.ctx.matcher.match(list(decision.external))
            leads = self.ctx.matcher.match_leads([a for a in decision.external if a not in matched])
            if not matched and self._may_create_contacts(event):
                people = [Participant(a, "", "to") for a in decision.external if a not in leads]
                matched = self.ctx.matcher.ensure_contacts(people)
        except LookupBudgetSpent:
            # One address per lookup call and this run's calls are spent: the meeting waits
            # in the sync cache, whose retry asks again.
            matched, leads = {}, {}
            reason = "contact lookups of this run used up (one address per call)"
        if matched or leads:
            return matched, leads
        with session_scope() as s:
            cache.park(
                s,
                org_id=self.ctx.org_id,
                kind=CACHE_KIND,
                key=key,
                user_id=self.ctx.user_id,
                subject=event.get("subject") if isinstance(event.get("subject"), str) else None,
                addresses=list(decision.external),
                reason=reason,
                settings=self.ctx.settings,
            )
        self.ctx.count("meetings_cached")
        return {}, {}

    def _may_create_contacts(self, event: Mapping[str, Any]) -> bool:
        mode = self.ctx.email_policy.contact_creation
        return mode == "all" or (mode == "sent" and organizer_of(event) == self.me)

    def _copies_gone(self, gone: list[str]) -> list[str]:
        """This user's copies that left the calendar. The meeting goes from the CRM only when
        nobody else holds it; otherwise another colleague's copy inherits the claim (and their
        next run reads it again and adopts the CRM event)."""
        inherited, heirs = claims.copies_gone(self.ctx.org_id, self.ctx.user_id, gone, OCCURRENCE)
        if heirs:
            queue_runs(sorted(heirs))
            self.ctx.count("meetings_handed_over", len(inherited))
        return [g for g in gone if g not in inherited]
