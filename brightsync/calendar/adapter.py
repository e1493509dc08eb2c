"""The calendar adapter of the two-way core: one user's primary calendar <-> the org's CRM events.

Mailbox side: the primary calendar's delta sync over the window (`pastDays`, `futureDays`).
Each event is classified (calendar/meetings.py); a meeting is synced only by the owner of its
org-wide claim (calendar/claims.py), so a meeting in five colleagues' calendars is one CRM
event. Series are expanded into their occurrences in the window; an occurrence's mailbox id is
``<series id>#<original start>``. A meeting whose external attendees match no contact waits
in the sync cache (kind "meeting") and is read again when one appears.

CRM side: ``/events?since=`` and ``/deletedEvents?since=``. A CRM event belongs to the owner
of the meeting claim that created it, else to its first attendee who is a CRM user (so one
colleague, not each of them, gets it in their calendar).

Only the organizer edits a shared meeting: changes from the CRM to a meeting this user does
not organise are not written to their calendar (their copy changes only by their answer), and
an occurrence is not written back individually; both are left as they are (see `update`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import or_, select, update

from brightsync.calendar import claims
from brightsync.calendar.mapping import (
    crm_fields,
    crm_payload,
    mailbox_fields,
    mailbox_payload,
    when_of,
)
from brightsync.calendar.meetings import (
    LEAVES_CRM,
    CalendarPolicy,
    EventDecision,
    classify,
    meeting_key,
    organizer_of,
)
from brightsync.calendar.recurrence import expand, original_start
from brightsync.calendar.times import When, crm_when
from brightsync.clients.http import NotFoundError
from brightsync.crm.context import CrmContext
from brightsync.crm.context import load_context as _load
from brightsync.crm.matching import contact_addresses
from brightsync.db import session_scope
from brightsync.email.rules import EmailPolicy, Participant
from brightsync.models import MeetingClaim, MeetingCopy, utcnow
from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record, Side, find_in_crm
from brightsync.sync.creates import create_once
from brightsync.sync.cursors import next_since, now
from brightsync.sync.delta import read_delta
from brightsync.times import parse_instant
from brightsync.unmatched import cache

CALENDAR = "primary"
OCCURRENCE = "#"
CACHE_KIND = "meeting"


class CalendarContext(CrmContext):
    @cached_property
    def policy(self) -> CalendarPolicy:
        return CalendarPolicy.from_settings(self.settings, self.org_domains)

    @cached_property
    def email_policy(self) -> EmailPolicy:
        """Contact auto-creation for external attendees follows the email settings' rules."""
        return EmailPolicy.from_settings(self.settings, self.org_domains)

    @property
    def notify_attendees(self) -> bool:
        return bool(self.settings.get("calendar", {}).get("notifyAttendees", False))


def load_context(user_id: int) -> CalendarContext:
    return _load(user_id, CalendarContext)


def occurrence_id(event: Mapping[str, Any]) -> str | None:
    """The mailbox id of an occurrence (computed or an exception): series id + original."""
    info = event.get("occurrenceInfo")
    original = original_start(event)
    if isinstance(info, Mapping) and info.get("masterId") and original:
        return f"{info['masterId']}{OCCURRENCE}{original}"
    return None


class CalendarAdapter:
    domain = "calendar"
    # Fields that say two unlinked records are the same meeting (first sync, lost creates).
    identity = ("subject", "start")

    def __init__(self, ctx: CalendarContext, now: datetime | None = None) -> None:
        self.ctx = ctx
        self.now = now or utcnow()
        self.window = ctx.policy.window(self.now)
        self.me = (ctx.user_email or "").strip().lower()
        self._users: dict[str, str | None] = {}

    # --- reading ------------------------------------------------------------------------------

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        return self._mailbox_changes(cursor) if side == MAILBOX else self._crm_changes(cursor)

    def get(self, side: Side, record_id: str) -> Record | None:
        if side == CRM:
            try:
                return self._crm_record(self.ctx.crm.get_event(record_id))
            except NotFoundError:
                return None
        event = self._mailbox_event(record_id)
        return self._mailbox_record(record_id, event) if event is not None else None

    def find(self, side: Side, fields: Mapping[str, Any], key: str) -> Record | None:
        return find_in_crm(side, lambda: self._found_native(fields), self._crm_record)

    def _found_native(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """The CRM event a lost create of `fields` made: the meeting's claimed CRM event, else
        an event at the same time with the same subject."""
        with session_scope() as s:
            claimed = claims.crm_event_of(s, self.ctx.org_id, fields.get("meeting"))
        if claimed:
            try:
                return self.ctx.crm.get_event(claimed)
            except NotFoundError:
                pass
        start = when_of(fields).start_instant()
        for event in self.ctx.crm.events_in_window(start, start + timedelta(seconds=1)):
            mapped = crm_fields(event)
            if mapped and all(mapped.get(k) == fields.get(k) for k in ("subject", "start")):
                return event
        return None

    # --- writing ------------------------------------------------------------------------------

    def create(self, side: Side, fields: Mapping[str, Any], key: str) -> Record:
        if side == CRM:
            return self._create_crm(fields, key)
        body = mailbox_payload(fields, timezone="UTC", organizer=self.me)
        created = self.ctx.aurinko.create_event(
            CALENDAR, body, notify_attendees=self.ctx.notify_attendees
        )
        meeting = meeting_key(created)
        if meeting:
            with session_scope() as s:
                claims.claim_meeting(
                    s,
                    org_id=self.ctx.org_id,
                    user_id=self.ctx.user_id,
                    key=meeting,
                    event_id=created["id"],
                    organizer=True,
                    subject=created.get("subject"),
                )
        return self._mailbox_record(created["id"], created)

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        if side == CRM:
            body = self._crm_body(patch)
            updated = self.ctx.crm.update_event(record_id, body)
            return self._crm_record({**updated, "id": updated.get("id") or record_id})
        event = self._mailbox_event(record_id)
        if event is None:
            raise NotFoundError(f"event {record_id} is gone", status=404)
        if OCCURRENCE in record_id or not self._organised(event):
            # Not ours to edit (an invitee's copy) or not addressable on its own (an occurrence
            # of a series): the mailbox keeps what it has; the core sees it unchanged.
            return self._mailbox_record(record_id, event)
        zone = (event.get("start") or {}).get("timezone")
        body = mailbox_payload(patch, timezone=zone, organizer=self.me)
        if not body:
            return self._mailbox_record(record_id, event)
        updated = self.ctx.aurinko.update_event(
            CALENDAR, record_id, body, version, notify_attendees=self.ctx.notify_attendees
        )
        return self._mailbox_record(record_id, updated)

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        if side == CRM:
            self.ctx.crm.delete_event(record_id)
            with session_scope() as s:
                s.execute(
                    update(MeetingClaim)
                    .where(
                        MeetingClaim.org_id == self.ctx.org_id,
                        MeetingClaim.crm_event_id == record_id,
                    )
                    .values(crm_event_id=None)
                )
            return
        event = self._mailbox_event(record_id)
        if event is None or OCCURRENCE in record_id or not self._organised(event):
            return
        try:
            self.ctx.aurinko.delete_event(
                CALENDAR, record_id, notify_attendees=self.ctx.notify_attendees
            )
        except NotFoundError:
            return

    # --- the mailbox side ---------------------------------------------------------------------

    def _mailbox_changes(self, cursor: str | None) -> ChangeSet:
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
        for event_id in self._released():
            if event_id not in known:
                event = self._mailbox_event(event_id)
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

    def _released(self) -> list[str]:
        with session_scope() as s:
            return list(
                s.scalars(
                    select(MeetingClaim.owner_event_id).where(
                        MeetingClaim.owner_user_id == self.ctx.user_id,
                        MeetingClaim.recheck.is_(True),
                    )
                )
            )

    def _records(
        self, candidates: list[tuple[str, dict[str, Any]]], gone: list[str]
    ) -> tuple[list[Record], list[str]]:
        records: list[Record] = []
        deleted: list[str] = []
        decided = []
        skipped = []
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
        self.ctx.matcher.prefetch(a for d in meetings for a in d[2].external)
        contacts: dict[str, dict[str, Any]] = {}
        for record_id, event, decision, key in meetings:
            matched = self._matches(event, decision, key)
            if decision.reason == "meeting" and not matched:
                continue
            contacts.update({str(c.get("id")): c for c in matched.values()})
            records.append(self._mailbox_record(record_id, event, decision.private, key))
        if contacts:
            self.ctx.matcher.prefetch_opportunities(list(contacts.values()))
        claims.rechecked(self.ctx.org_id, [r.fields["meeting"] for r in records])
        deleted += self._copies_gone(gone)
        return records, deleted

    def _claim(self, decided: list[tuple[str, dict[str, Any], EventDecision, str]]) -> set[str]:
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
    ) -> dict[str, dict[str, Any]]:
        """The external attendees' contacts. A meeting syncs once one of them is a contact
        (auto-created under the email rules when allowed); until then it waits in the sync
        cache."""
        if not decision.external:
            return {}
        matched = self.ctx.matcher.match(list(decision.external))
        if not matched and self._may_create_contacts(event):
            people = [Participant(a, "", "to") for a in decision.external]
            matched = self.ctx.matcher.ensure_contacts(people)
        if matched:
            return matched
        with session_scope() as s:
            cache.park(
                s,
                org_id=self.ctx.org_id,
                kind=CACHE_KIND,
                key=key,
                user_id=self.ctx.user_id,
                subject=event.get("subject") if isinstance(event.get("subject"), str) else None,
                addresses=list(decision.external),
                reason="no external attendee matches a contact",
                settings=self.ctx.settings,
            )
        self.ctx.count("meetings_cached")
        return {}

    def _may_create_contacts(self, event: Mapping[str, Any]) -> bool:
        mode = self.ctx.email_policy.contact_creation
        return mode == "all" or (mode == "sent" and organizer_of(event) == self.me)

    def _copies_gone(self, gone: list[str]) -> list[str]:
        """This user's copies that left the calendar. The meeting goes from the CRM only when
        nobody else holds it; otherwise another colleague's copy inherits the claim (and their
        next run reads it again and adopts the CRM event)."""
        inherited: set[str] = set()
        heirs: set[int] = set()
        with session_scope() as s:
            for start in range(0, len(gone), 200):
                chunk = gone[start : start + 200]
                rows = s.execute(
                    select(MeetingCopy.meeting_key, MeetingCopy.event_id).where(
                        MeetingCopy.org_id == self.ctx.org_id,
                        MeetingCopy.user_id == self.ctx.user_id,
                        or_(
                            MeetingCopy.event_id.in_(chunk),
                            *(MeetingCopy.event_id.startswith(g + OCCURRENCE) for g in chunk),
                        ),
                    )
                ).all()
                for key, event_id in rows:
                    heir = claims.copy_gone(s, self.ctx.org_id, self.ctx.user_id, key)
                    if heir is not None:
                        inherited.add(event_id)
                        heirs.add(heir)
        if heirs:
            from brightsync.calendar.cached import queue_runs

            queue_runs(sorted(heirs))
            self.ctx.count("meetings_handed_over", len(inherited))
        return [g for g in gone if g not in inherited]

    def _mailbox_event(self, record_id: str) -> dict[str, Any] | None:
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

    def _mailbox_record(
        self,
        record_id: str,
        event: Mapping[str, Any],
        private: bool | None = None,
        key: str | None = None,
    ) -> Record:
        fields = mailbox_fields(event, private) or {}
        fields["meeting"] = key or meeting_key(event)
        return Record(
            id=record_id,
            fields=fields,
            version=event.get("etag") if OCCURRENCE not in record_id else None,
            modified=parse_instant(event.get("lastModifiedTime")),
            native=event,
        )

    def _organised(self, event: Mapping[str, Any]) -> bool:
        organizer = organizer_of(event)
        return organizer is None or organizer == self.me

    # --- the CRM side -------------------------------------------------------------------------

    def _crm_changes(self, cursor: str | None) -> ChangeSet:
        crm = self.ctx.crm
        # `since` trails the read: a change landing while we read is read again next time
        # (re-reads are echo-free), never missed; and it never moves back.
        next_cursor = next_since(cursor, now())
        if cursor is None:
            events = list(crm.events_in_window(*self.window))
            gone: list[str] = []
        else:
            events = list(crm.events_since(cursor))
            gone = [str(e["id"]) for e in crm.deleted_events_since(cursor) if e.get("id")]
        owners = self._crm_owners([str(e.get("id")) for e in events] + gone)
        lo, hi = self.window
        records = []
        for event in events:
            event_id = str(event.get("id") or "")
            if not event_id or not self._mine(event, owners.get(event_id)):
                continue
            when = crm_when(event)
            if when is None or not (lo <= when.start_instant() < hi):
                continue
            records.append(self._crm_record(event))
        deleted = [g for g in gone if owners.get(g) in (None, self.ctx.user_id)]
        return ChangeSet(tuple(records), tuple(deleted), next_cursor)

    def _crm_owners(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        with session_scope() as s:
            return {
                crm_id: owner
                for crm_id, owner in s.execute(
                    select(MeetingClaim.crm_event_id, MeetingClaim.owner_user_id).where(
                        MeetingClaim.org_id == self.ctx.org_id,
                        MeetingClaim.crm_event_id.in_(ids),
                    )
                )
            }

    def _mine(self, event: Mapping[str, Any], owner: int | None) -> bool:
        if owner is not None:
            return owner == self.ctx.user_id
        for att in event.get("attendees") or []:
            if isinstance(att, Mapping) and att.get("userId") not in (None, ""):
                return self.ctx.crm_user_id is not None and str(att["userId"]) == str(
                    self.ctx.crm_user_id
                )
        return False

    def _crm_record(self, event: Mapping[str, Any]) -> Record:
        return Record(
            id=str(event["id"]),
            fields=crm_fields(event) or {},
            version=str(event.get("lastModifiedAt") or "") or None,
            modified=parse_instant(event.get("lastModifiedAt")),
            native=event,
        )

    def _crm_body(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """CRM body with userId for colleagues, contactId and relatedTo for matched people.
        This user comes first among the attendees: the CRM event is theirs."""
        attendees = list(fields.get("attendees") or [])
        if self.me in attendees:
            attendees.remove(self.me)
            attendees.insert(0, self.me)
        internal = [a for a in attendees if self.ctx.policy.is_internal(a)]
        external = [a for a in attendees if not self.ctx.policy.is_internal(a)]
        users = self._user_ids(internal)
        contacts = self.ctx.matcher.match(external) if external else {}
        contact_ids = {a: str(c["id"]) for a, c in contacts.items() if c.get("id") is not None}
        related = None
        if "attendees" in fields:
            unique = list({str(c.get("id")): c for c in contacts.values()}.values())
            related = self.ctx.matcher.relations(unique) if unique else None
        ordered = {**fields, "attendees": attendees} if "attendees" in fields else fields
        body = crm_payload(ordered, users=users, contacts=contact_ids, related_to=related)
        if "attendees" in body:  # crm_payload keeps the given order
            body["attendees"].sort(key=lambda a: attendees.index(a["emailAddress"]))
        return body

    def _user_ids(self, addresses: Iterable[str]) -> dict[str, str]:
        """CRM user ids of colleagues, looked up once per run per address."""
        addresses = list(addresses)
        wanted = [a for a in addresses if a not in self._users]
        if wanted:
            self._users.update(dict.fromkeys(wanted))
            for user in self.ctx.crm.lookup_users(wanted):
                for addr in contact_addresses(user) or [str(user.get("email") or "").lower()]:
                    if addr in self._users and user.get("id") is not None:
                        self._users[addr] = str(user["id"])
        return {a: u for a in addresses if (u := self._users.get(a)) is not None}

    def _create_crm(self, fields: Mapping[str, Any], key: str) -> Record:
        """One CRM event per meeting per organisation, exactly once: the create goes through
        the safe-create intent keyed by the meeting key (org-wide, so an organizer taking
        over or a colleague inheriting gets the recorded event, not a second one)."""
        meeting = fields.get("meeting")
        content = {k: v for k, v in fields.items() if k != "meeting"}
        body = self._crm_body(content)

        def send(idempotency_key: str) -> dict[str, Any]:
            return self.ctx.crm.create_event(body, idempotency_key=idempotency_key)

        if not isinstance(meeting, str):
            return self._crm_record({**body, **send(key)})
        result = create_once(
            self.ctx.org_id, "event", meeting, send, lambda: self._found_native(fields)
        )
        with session_scope() as s:
            claims.set_crm_event(s, self.ctx.org_id, meeting, result.remote_id)
        made = {**body, **result.record}
        if len(result.record) <= 1 or result.adopted:
            current = self.get(CRM, result.remote_id)  # only its id was recorded, or adopted
            if current is None:
                return self._crm_record(made)
            if all(current.fields.get(k) == v for k, v in content.items()):
                self.ctx.count("crm_adopted")
                return current
            self.ctx.count("crm_adopted")
            updated = self.ctx.crm.update_event(result.remote_id, body)
            return self._crm_record({**updated, "id": result.remote_id})
        return self._crm_record(made)
