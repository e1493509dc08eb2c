"""The contacts adapter of the two-way core: one user's mailbox contacts <-> their CRM contacts.

Mailbox side: Aurinko's contacts delta sync, every contact or only those filed under the
configured category (a contact taken out of the category reads as deleted here; contacts
created here are filed under it). Its cursor is JSON: both delta tokens and the category.

CRM side: `GET /contacts?since=`, deletions by what the connector offers (the deleted feed,
else `showDeleted=true`, else a periodic comparison: sync/crm_deletions.py), only contacts whose
`ownerId` is the user's CRM id (all contacts when the user has none or the connector keeps
no owner). Its cursor is the `since` value, trailing the read by a few minutes (the
connector's `since` is inclusive and re-reads are echo-free), and when the comparison last
ran. The company travels as a name
(the CRM's `companyId` is resolved both ways through `crm/matching.Matcher.company_for`:
by domain, then by name, created when the org allows).

Side effects the core does not know about, at the edge where they happen:
- a CRM contact created (by this sync, or seen new in the CRM feed) releases the unmatched
  mail and meetings waiting for its addresses (`sync_cache/watch.on_new_contacts`, handed
  in by the domain registry);
- deleting a CRM contact that has logged mail raises `Held` unless the org allows it, so the
  engine holds the link with the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.crm import CrmClient
from brightsync.clients.http import NotFoundError
from brightsync.contacts import rules
from brightsync.crm.contact_cache import invalidate_org
from brightsync.crm.matching import Matcher
from brightsync.people.phones import DEFAULT_REGION
from brightsync.sync import crm_deletions
from brightsync.sync.adapter import MAILBOX, ChangeSet, Held, Record, Side, find_in_crm
from brightsync.sync.creates import attempt_create
from brightsync.sync.cursors import next_since, now
from brightsync.sync.delta import read_delta
from brightsync.times import parse_instant

log = logging.getLogger(__name__)

# (contact id, addresses) -> number of logged emails; (addresses) -> None
ActivityCheck = Callable[[str, list[str]], int]
Released = Callable[[set[str]], Any]


class ContactsAdapter:
    domain = "contacts"

    def __init__(
        self,
        aurinko: AurinkoClient,
        crm: CrmClient,
        matcher: Matcher,
        *,
        owner_id: str | None = None,
        category: str | None = None,
        allow_delete_with_activity: bool = False,
        activity: ActivityCheck | None = None,
        released: Released | None = None,
        region: str = DEFAULT_REGION,
        deletion_period: timedelta = timedelta(minutes=30),
    ) -> None:
        self.aurinko = aurinko
        self.crm = crm
        self.matcher = matcher
        self.owner_id = str(owner_id) if owner_id else None
        self.category = category or None
        self.allow_delete_with_activity = allow_delete_with_activity
        self.activity = activity
        self.released = released
        self.region = region
        self.deletion_period = deletion_period  # how often deletions may be found by comparison
        self._company_names: dict[str, str] = {}

    # -- mapping --

    def _mailbox_record(self, contact: Mapping[str, Any]) -> Record:
        return Record(
            str(contact["id"]),
            rules.from_mailbox(contact, self.region),
            contact.get("etag"),
            parse_instant(contact.get("lastModifiedTime")),
            contact,
        )

    def _company_name(self, company_id: Any) -> str:
        if not company_id:
            return ""
        key = str(company_id)
        if key not in self._company_names:
            try:
                self._company_names[key] = str(self.crm.get_company(key).get("name") or "")
            except NotFoundError:
                self._company_names[key] = ""
        return self._company_names[key]

    def _crm_record(self, contact: Mapping[str, Any]) -> Record:
        return Record(
            str(contact["id"]),
            rules.from_crm(contact, self._company_name(contact.get("companyId")), self.region),
            contact.get("lastModifiedAt"),
            parse_instant(contact.get("lastModifiedAt")),
            contact,
        )

    def _mine(self, contact: Mapping[str, Any]) -> bool:
        owner = contact.get("ownerId")
        return self.owner_id is None or owner in (None, "") or str(owner) == self.owner_id

    def _company_id(self, fields: Mapping[str, Any]) -> str | None:
        if not fields.get("company"):
            return None
        company = self.matcher.company_for(list(fields.get("emails") or []), fields["company"])
        if company is None:
            return None
        self._company_names[str(company["id"])] = str(company.get("name") or fields["company"])
        return str(company["id"])

    # -- reading --

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        return self._mailbox_changes(cursor) if side == MAILBOX else self._crm_changes(cursor)

    def _mailbox_changes(self, cursor: str | None) -> ChangeSet:
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        if state.get("category") != self.category:
            state = {"category": self.category}  # first sync, or another category now
        first = not state.get("updated")
        delta = read_delta(
            self.aurinko, "contacts", state, lambda: self.aurinko.start_sync("contacts")
        )
        state.update(delta.tokens)
        gone = delta.deleted_ids
        records = []
        for contact in delta.updated:
            if str(contact["id"]) in gone:
                continue
            if not rules.in_category(contact, self.category):
                if not first:
                    gone.append(str(contact["id"]))  # taken out of the category
                continue
            records.append(self._mailbox_record(contact))
        return ChangeSet(tuple(records), tuple(gone), json.dumps(state, sort_keys=True))

    def _crm_changes(self, cursor: str | None) -> ChangeSet:
        since, checked = crm_deletions.split_cursor(cursor)
        started = now()
        read = crm_deletions.read(
            self.crm,
            "contacts",
            since,
            checked,
            listing=lambda: self.crm.contacts_since(None),
            now=started,
            period=self.deletion_period,
        )
        records: list[Record] = []
        gone = list(read.deleted)
        for contact in read.records:
            if not self._mine(contact):
                if since and not read.listed:
                    gone.append(str(contact["id"]))  # no longer this user's
                continue
            records.append(self._crm_record(contact))
        if since and (read.records or read.deleted):
            # Changed or deleted CRM contacts: what runs share of contacts is read again.
            invalidate_org(self.matcher.org_id)
        if since:
            # New or changed CRM contacts, however they were made: release waiting mail now.
            self._release({a for r in records for a in r.fields["emails"]})
        next_cursor = crm_deletions.join_cursor(next_since(since, started), read.checked)
        return ChangeSet(
            tuple(records), tuple(dict.fromkeys(gone)), next_cursor, listed=read.listed
        )

    def get(self, side: Side, record_id: str) -> Record | None:
        try:
            if side == MAILBOX:
                contact = self.aurinko.get_contact(record_id)
                if not rules.in_category(contact, self.category):
                    return None
                return self._mailbox_record(contact)
            contact = self.crm.get_contact(record_id)
        except NotFoundError:
            return None
        return self._crm_record(contact) if self._mine(contact) else None

    def find(self, side: Side, fields: Mapping[str, Any], key: str) -> Record | None:
        return find_in_crm(side, lambda: self._found_native(fields), self._crm_record)

    def _found_native(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """The CRM contact a lost create of `fields` made (by address, then same identity)."""
        if not fields.get("emails"):
            return None
        self.crm.forget(fields["emails"])
        want = {k: fields.get(k) for k in rules.IDENTITY}
        for contact in self.crm.lookup_contacts(fields["emails"]):
            record = self._crm_record(contact)
            if self._mine(contact) and {k: record.fields.get(k) for k in rules.IDENTITY} == want:
                return contact
        return None

    def lookup_crm(self, addresses: list[str]) -> list[Record]:
        """CRM contacts holding any of these addresses, whoever owns them (for the pairer)."""
        return [self._crm_record(c) for c in self.crm.lookup_contacts(addresses)]

    # -- writing --

    def create(self, side: Side, fields: Mapping[str, Any], key: str) -> Record:
        if side == MAILBOX:
            body = rules.to_mailbox(fields)
            if self.category:
                body["keywords"] = [self.category]
            created = self.aurinko.create_contact(body)
            return self._mailbox_record(self.aurinko.get_contact(str(created["id"])))
        payload = rules.to_crm(fields)
        payload["companyId"] = self._company_id(fields)
        if self.owner_id:
            payload["ownerId"] = self.owner_id
        # The shared safe create: the engine's intent key goes out as Idempotency-Key (the
        # engine looks with `find` before a retry), and within this attempt a lost answer is
        # looked for before the create is sent again.
        made = attempt_create(
            lambda idem: self.crm.create_contact(payload, idempotency_key=idem),
            lambda: self._found_native(fields),
            key=key,
            look_first=False,
        )
        created = made.record
        if "lastModifiedAt" not in created:
            created = self.crm.get_contact(str(created["id"]))
        self._release(set(fields.get("emails") or []))
        return self._crm_record(created)

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        if side == MAILBOX:
            current = self.aurinko.get_contact(record_id)
            body = rules.mailbox_patch(patch, current)
            self.aurinko.update_contact(record_id, body, etag=version or current.get("etag"))
            return self._mailbox_record(self.aurinko.get_contact(record_id))
        body = rules.to_crm(patch)
        if "company" in patch:
            emails = patch.get("emails")
            if emails is None:
                emails = self._crm_record(self.crm.get_contact(record_id)).fields["emails"]
            body["companyId"] = self._company_id({"company": patch["company"], "emails": emails})
        updated = self.crm.update_contact(record_id, body)
        if "lastModifiedAt" not in updated:
            updated = self.crm.get_contact(record_id)
        if "emails" in patch:
            self._release(set(patch["emails"] or []))
        return self._crm_record(updated)

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        if side == MAILBOX:
            self.aurinko.delete_contact(record_id)
            return
        if not self.allow_delete_with_activity and self.activity is not None:
            contact = self.crm.get_contact(record_id)  # NotFoundError: already gone
            emails = rules.emails_of(contact.get("emailAddresses"))
            logged = self.activity(record_id, emails)
            if logged:
                raise Held(
                    f"deleted in the mailbox, kept in the CRM: {logged} logged email(s) "
                    "(contacts.allowDeleteWithActivity is off)"
                )
        self.crm.delete_contact(record_id)

    def _release(self, addresses: set[str]) -> None:
        if self.released is not None and addresses:
            try:
                self.released(addresses)
            except Exception:  # the sync's own writes are done; the next watch retries these
                log.exception("releasing unmatched items for new contacts failed")
