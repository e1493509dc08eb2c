"""The calendar adapter of the two-way core: one user's primary calendar <-> the org's CRM events.

Mailbox side: calendar/mailbox.py reads the primary calendar's delta over the window as
meetings; a meeting is synced only by the owner of its org-wide claim (calendar/claims.py),
so a meeting in five colleagues' calendars is one CRM event.

CRM side: ``/events?since=``, with deletions by what the connector offers (the deleted feed,
else ``showDeleted=true``, else a periodic comparison of the window: sync/crm_deletions.py).
A CRM event belongs to the owner
of the meeting claim that created it, else to its first attendee who is a CRM user (so one
colleague, not each of them, gets it in their calendar). Its cursor is the `since` value,
trailing the read and never moving back (sync/cursors.py), and when the comparison last ran.

A CRM that stores one child event per attendee (`parentId`) is read as one meeting per
family, the parent (calendar/children.py): children are folded into it and never synced on
their own, and writes go to the parent. A CRM with several calendars per user (capability
`calendars`) gets each user's meetings in the calendar `calendar.crmCalendar` chooses, and
events in the user's other calendars are not theirs (calendar/crm_calendars.py).

Only the organizer edits a shared meeting: changes from the CRM to a meeting this user does
not organise are not written to their calendar (their copy changes only by their answer), and
an occurrence is not written back individually; both are left as they are (see `update`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from brightsync.calendar import children, claims
from brightsync.calendar.context import CalendarContext
from brightsync.calendar.crm_calendars import CalendarScope
from brightsync.calendar.mailbox import CALENDAR, OCCURRENCE, MailboxCalendar, mailbox_record
from brightsync.calendar.mapping import crm_fields, crm_payload, mailbox_payload, when_of
from brightsync.calendar.meetings import meeting_key, organizer_of
from brightsync.calendar.times import crm_when
from brightsync.clients.http import AuthError, FinalError, NotFoundError
from brightsync.crm.users import crm_users
from brightsync.db import session_scope
from brightsync.models import utcnow
from brightsync.sync import crm_deletions
from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record, Side, find_in_crm
from brightsync.sync.creates import create_once
from brightsync.sync.cursors import next_since, now
from brightsync.times import parse_instant

log = logging.getLogger(__name__)


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
        self._parents: dict[str, str] = {}  # child event id -> its parent's, as read
        self._scope: CalendarScope | None = None
        self.mailbox = MailboxCalendar(ctx, self.window, self.me)

    # --- reading ------------------------------------------------------------------------------

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        return self.mailbox.changes(cursor) if side == MAILBOX else self._crm_changes(cursor)

    def get(self, side: Side, record_id: str) -> Record | None:
        if side == CRM:
            try:
                return self._crm_record(self._crm_meeting(self.ctx.crm.get_event(record_id)))
            except NotFoundError:
                return None
        event = self.mailbox.event(record_id)
        return mailbox_record(record_id, event) if event is not None else None

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
            if children.parent_id(event) is not None:
                continue  # an attendee's copy of a meeting, never the meeting
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
        return mailbox_record(created["id"], created)

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        if side == CRM:
            record_id = self._parents.get(record_id, record_id)
            body = self._crm_body(patch)
            updated = self.ctx.crm.update_event(record_id, body)
            return self._crm_record({**updated, "id": updated.get("id") or record_id})
        event = self.mailbox.event(record_id)
        if event is None:
            raise NotFoundError(f"event {record_id} is gone", status=404)
        if OCCURRENCE in record_id or not self._organised(event):
            # Not ours to edit (an invitee's copy) or not addressable on its own (an occurrence
            # of a series): the mailbox keeps what it has; the core sees it unchanged.
            return mailbox_record(record_id, event)
        zone = (event.get("start") or {}).get("timezone")
        body = mailbox_payload(patch, timezone=zone, organizer=self.me)
        if not body:
            return mailbox_record(record_id, event)
        updated = self.ctx.aurinko.update_event(
            CALENDAR, record_id, body, version, notify_attendees=self.ctx.notify_attendees
        )
        return mailbox_record(record_id, updated)

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        if side == CRM:
            record_id = self._parents.get(record_id, record_id)
            self.ctx.crm.delete_event(record_id)
            with session_scope() as s:
                claims.forget_crm_event(s, self.ctx.org_id, record_id)
            return
        event = self.mailbox.event(record_id)
        if event is None or OCCURRENCE in record_id or not self._organised(event):
            return
        try:
            self.ctx.aurinko.delete_event(
                CALENDAR, record_id, notify_attendees=self.ctx.notify_attendees
            )
        except NotFoundError:
            return

    def _organised(self, event: Mapping[str, Any]) -> bool:
        organizer = organizer_of(event)
        return organizer is None or organizer == self.me

    # --- the CRM side -------------------------------------------------------------------------

    def _crm_changes(self, cursor: str | None) -> ChangeSet:
        # `since` trails the read: a change landing while we read is read again next time
        # (re-reads are echo-free), never missed; and it never moves back. Deletions come by
        # what the connector offers (sync/crm_deletions.py).
        since, checked = crm_deletions.split_cursor(cursor)
        started = now()
        read = crm_deletions.read(
            self.ctx.crm,
            "events",
            since,
            checked,
            listing=lambda: self.ctx.crm.events_in_window(*self.window),
            now=started,
            period=crm_deletions.period_of(self.ctx.settings),
        )
        # A delta holds child-event families in part; a full listing holds them whole.
        events = self._meetings(list(read.records), partial=since is not None and not read.listed)
        gone = [g for g in read.deleted if g not in self._parents]
        owners = claims.crm_owners(self.ctx.org_id, [str(e.get("id")) for e in events] + gone)
        records = []
        for event in events:
            event_id = str(event.get("id") or "")
            if not event_id or not self._mine(event, owners.get(event_id)):
                continue
            when = crm_when(event)
            if when is None or not self._in_window(when.start_instant()):
                continue
            records.append(self._crm_record(event))
        deleted = [g for g in gone if owners.get(g) in (None, self.ctx.user_id)]
        cursor = crm_deletions.join_cursor(next_since(since, started), read.checked)
        return ChangeSet(
            tuple(records), tuple(deleted), cursor, listed=read.listed, covers=self._covers
        )

    def _in_window(self, start: datetime) -> bool:
        lo, hi = self.window
        return lo <= start < hi

    def _covers(self, fields: Mapping[str, Any]) -> bool:
        """Would the window listing hold a CRM event with these fields (as last seen)?"""
        try:
            return self._in_window(when_of(fields).start_instant())
        except (KeyError, ValueError):
            return False

    def _meetings(self, events: list[dict[str, Any]], *, partial: bool) -> list[dict[str, Any]]:
        """The events read, as meetings: children folded into their parents. A delta holds
        families in part, so each family with a child in it is read again whole first."""
        if partial:
            for parent in children.families_to_complete(events):
                events += self._family(parent)
        folded = children.fold(events)
        self._parents.update(folded.children)
        return folded.meetings

    def _family(self, parent_id: str) -> list[dict[str, Any]]:
        """A parent event and its children now (the children: the events at its start)."""
        try:
            parent = self.ctx.crm.get_event(parent_id)
        except NotFoundError:
            return []
        when = crm_when(parent)
        if when is None:
            return [parent]
        start = when.start_instant()
        at_start = self.ctx.crm.events_in_window(start, start + timedelta(seconds=1))
        return [parent, *(e for e in at_start if children.parent_id(e) == parent_id)]

    def _crm_meeting(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event loaded by id, as its meeting: a child's parent, with the child folded in."""
        parent_id = children.parent_id(event)
        if parent_id is None:
            return event
        self._parents[str(event.get("id"))] = parent_id
        return children.fold_family(self.ctx.crm.get_event(parent_id), [event])

    def _calendars(self) -> CalendarScope:
        """This user's CRM calendars (once per run; none without the `calendars` capability
        or a CRM user id)."""
        if self._scope is None:
            self._scope = CalendarScope()
            user = self.ctx.crm_user_id
            if user and self.ctx.crm.supports("calendars"):
                try:
                    listed = self.ctx.crm.calendars(str(user))
                except AuthError:
                    raise
                except FinalError as exc:  # offered but refused: as without calendars
                    log.warning("CRM calendars of user %s: %s", user, exc)
                    listed = []
                self._scope = CalendarScope.of(listed, self.ctx.crm_calendar)
                if not self._scope.found:
                    self.ctx.count("crm_calendar_missing")
        return self._scope

    def _mine(self, event: Mapping[str, Any], owner: int | None) -> bool:
        if owner is not None and owner != self.ctx.user_id:
            return False  # a colleague's meeting: no need to know this user's calendars
        in_chosen = self._calendars().says(event)
        if in_chosen is False:
            return False  # in another of this user's calendars: not synced as theirs
        if owner is not None:
            return True
        if in_chosen:
            return True
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
        """CRM body with userId for colleagues, contactId and relatedTo for matched people
        (and the leads of people who are no contact yet).
        This user comes first among the attendees: the CRM event is theirs.
        A patch of responses alone (someone accepted) names every attendee in its pairs:
        they are written with their ids, as the CRM replaces the whole attendee list."""
        attendees = list(fields.get("attendees") or dict(fields.get("responses") or []))
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
            leads = self.ctx.matcher.match_leads([a for a in external if a not in contacts])
            if unique or leads:
                related = self.ctx.matcher.relations(unique, list(leads.values()))
        ordered = {**fields, "attendees": attendees} if "attendees" in fields else fields
        body = crm_payload(ordered, users=users, contacts=contact_ids, related_to=related)
        if "attendees" in body:  # crm_payload keeps the given order
            body["attendees"].sort(key=lambda a: attendees.index(a["emailAddress"]))
        return body

    def _user_ids(self, addresses: Iterable[str]) -> dict[str, str]:
        """CRM user ids of colleagues, found once per run per address (`crm/users.py`: the
        connector's user lookup, else the org's registered users, else none)."""
        addresses = list(addresses)
        wanted = [a for a in addresses if a not in self._users]
        if wanted:
            self._users.update(dict.fromkeys(wanted))
            for addr, user in crm_users(self.ctx.crm, self.ctx.org_id, wanted).items():
                if addr in self._users:
                    self._users[addr] = str(user["id"])
        return {a: u for a in addresses if (u := self._users.get(a)) is not None}

    def _create_crm(self, fields: Mapping[str, Any], key: str) -> Record:
        """One CRM event per meeting per organisation, exactly once: the create goes through
        the safe-create intent keyed by the meeting key (org-wide, so an organizer taking
        over or a colleague inheriting gets the recorded event, not a second one)."""
        meeting = fields.get("meeting")
        content = {k: v for k, v in fields.items() if k != "meeting"}
        body = self._crm_body(content)
        calendar = self._calendars().chosen
        if calendar is not None:
            body["calendarId"] = calendar

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
