"""Events, contacts and tasks: one create/read/update/delete for the three services (they
differ only in how a body merges into a record, see records.py), the control API's listing
of an account's records, and the calendar and task-list listings.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.mail import message_json
from brightsync.sandbox.aurinko.model import Account, Item, etag_of, norm_etag
from brightsync.sandbox.aurinko.records import ApiFailure, not_found
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def _merge(
    service: str, existing: dict | None, body: Any, *, mailbox: bool, provider: str = ""
) -> dict[str, Any]:
    if service == "calendar":
        return R.merge_event(existing, body, mailbox=mailbox)
    if service == "contacts":
        return R.merge_contact(existing, body, mailbox=mailbox)
    task = R.merge_task(existing, body, mailbox=mailbox, now=time.time())
    return R.google_task(task) if provider == "google" else task


def create_record(
    sim: AurinkoSimulator,
    account: Account,
    service: str,
    container: str | None,
    body: Any,
    *,
    mailbox: bool = False,
) -> dict[str, Any]:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        record = _merge(service, None, body, mailbox=mailbox, provider=account.provider)
        now = time.time()
        kind = {"calendar": "event", "contacts": "contact", "tasks": "task"}[service]
        record_id = sim.new_id(account.provider, kind)
        record = {"id": record_id, "etag": etag_of(record_id, 1), **record}
        record["lastModifiedTime"] = R.iso(now)
        if service != "tasks":
            record["createdTime"] = R.iso(now)
        if service == "calendar":
            record["calendarId"] = account.primary_calendar
            record.setdefault(
                "organizer",
                {"emailAddress": {"name": account.name, "address": account.email}},
            )
            record.setdefault("iCalUid", f"{uuid.uuid4().hex}@sandbox.brightsync.test")
            record.setdefault("recurrenceType", "single")
            record.setdefault("showAs", "busy")
            record.setdefault("sensitivity", "normal")
        item = Item(id=record_id, record=record, seq=0, created=now)
        sim.store(account, feed_key, item, "created")
        return R.clean(record)


def _live_item(account: Account, feed_key: str, record_id: str, what: str) -> Item:
    item = account.feeds[feed_key].items.get(record_id)
    if item is None or item.deleted:
        raise not_found(f"{what} {record_id}")
    return item


def get_record(
    sim: AurinkoSimulator, account: Account, service: str, container: str | None, record_id: str
) -> dict[str, Any]:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        return R.clean(_live_item(account, feed_key, record_id, service).record)


def update_record(
    sim: AurinkoSimulator,
    account: Account,
    service: str,
    container: str | None,
    record_id: str,
    body: Any,
    *,
    if_match: str | None,
    mailbox: bool = False,
) -> dict[str, Any]:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        item = _live_item(account, feed_key, record_id, service)
        if if_match is not None and norm_etag(if_match) not in (
            "*",
            norm_etag(item.record["etag"]),
        ):
            raise ApiFailure(412, "preconditionFailed", "The record was changed (etag mismatch)")
        record = _merge(service, item.record, body, mailbox=mailbox, provider=account.provider)
        item.version += 1
        record["etag"] = etag_of(record_id, item.version)
        record["lastModifiedTime"] = R.iso(time.time())
        item.record = record
        sim.store(account, feed_key, item, "updated")
        return R.clean(record)


def delete_record(
    sim: AurinkoSimulator, account: Account, service: str, container: str | None, record_id: str
) -> None:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        item = _live_item(account, feed_key, record_id, service)
        item.deleted, item.deleted_at = True, time.time()
        sim.store(account, feed_key, item, "deleted")


def list_records(sim: AurinkoSimulator, account_id: int, service: str) -> list[dict[str, Any]]:
    with sim.lock:
        account = sim.account(account_id)
        key = sim.feed_key(account, service)
        items = sorted(account.feeds[key].live(), key=lambda i: i.seq)
        if service == "email":
            return [message_json(account, i, "html", full=True) for i in items]
        return [R.clean(i.record) for i in items]


def list_calendars(account: Account) -> list[dict[str, Any]]:
    return [
        {
            "id": account.primary_calendar,
            "name": account.email,
            "primary": True,
            "accessRole": "owner",
        }
    ]


def list_task_lists(account: Account) -> list[dict[str, Any]]:
    return [
        {
            "id": account.default_task_list,
            "title": "Tasks",
            "defaultList": True,
            "owner": True,
            "shared": False,
            "etag": etag_of(account.default_task_list, 1),
            "lastModifiedTime": R.iso(account.created),
        }
    ]
