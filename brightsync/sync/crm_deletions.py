"""CRM deletions for the two-way domains (calendar, contacts, tasks), by what the connector
offers, in this order:

1. its deleted feed (`/deletedEvents`, `/deletedContacts`, `/deletedTasks`): read with the
   `?since=` list at every run;
2. else the `?since=` list asked with `showDeleted=true`, where a deleted record comes back
   as `{"id", "deleted": true, "lastModifiedAt"}` (`isDeleted: true` or a `deletedAt` read
   the same way). A connector that ignores the parameter answers 200 all the same, so no
   probe can prove it: the flag is always sent when there is no feed, and the capability
   (`events_show_deleted`, ...) is learned offered when a deleted entry comes back (or set by
   the org's `crm.capabilities`);
3. until then, a periodic comparison: at most once per period (the safety-sync period, or
   the org's `crm.deletionCheckSeconds`) the run lists what the domain syncs in full (the
   calendar window, the user's contacts or tasks: paged) instead of the delta, and the
   engine reads once each linked CRM record the listing leaves out (`sync/listing.py`,
   bounded per run): the missing ones are deleted. So a CRM deletion reaches the mailbox
   without a feed, later. When the comparison last ran is kept in the CRM cursor
   (`;checked=<epoch seconds>`, short: the cursor column holds 64 characters), so it is
   durable and per user and domain.

`read()` does the I/O through the client; the rest is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from brightsync.clients.crm import CrmClient
from brightsync.clients.crm_http import is_deleted
from brightsync.config import get_settings

CHECKED = ";checked="


@dataclass(frozen=True)
class Feed:
    """How one CRM collection reports deletions: its feed's and its flag's capabilities."""

    feed: str
    flag: str


FEEDS: dict[str, Feed] = {
    "contacts": Feed("deleted_contacts", "contacts_show_deleted"),
    "events": Feed("deleted_events", "events_show_deleted"),
    "tasks": Feed("deleted_tasks", "tasks_show_deleted"),
}


@dataclass(frozen=True)
class CrmRead:
    """One read of a CRM collection: live records, deleted ids, whether `records` is a full
    listing (then the linked records it leaves out are to be confirmed), and when the
    comparison last ran (for the cursor)."""

    records: tuple[dict[str, Any], ...]
    deleted: tuple[str, ...]
    listed: bool = False
    checked: str | None = None


def split(items: Iterable[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Live records and the ids of deleted entries of one answer (ids-less items dropped)."""
    live: list[dict[str, Any]] = []
    gone: list[str] = []
    for item in items:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            continue
        (gone.append(str(item["id"])) if is_deleted(item) else live.append(item))
    return live, gone


def stamp(now: datetime) -> str:
    """When a comparison ran, as the cursor keeps it (epoch seconds)."""
    return str(int(now.timestamp()))


def comparison_due(checked: str | None, now: datetime, period: timedelta) -> bool:
    """Is the periodic comparison due (never ran, ran `period` ago or more, or unreadable)?"""
    try:
        last = int(checked or "")
    except ValueError:
        return True
    return now.timestamp() - last >= period.total_seconds()


def split_cursor(cursor: str | None) -> tuple[str | None, str | None]:
    """(the domain's own cursor, when the comparison last ran) of a stored CRM cursor."""
    if not cursor:
        return None, None
    base, found, checked = cursor.rpartition(CHECKED)
    if not found:
        return cursor, None
    return base or None, checked or None


def join_cursor(base: str, checked: str | None) -> str:
    return f"{base}{CHECKED}{checked}" if checked else base


def period_of(settings: Mapping[str, Any]) -> timedelta:
    """How often the comparison may run: the org's `crm.deletionCheckSeconds`, else the
    safety-sync period."""
    raw = (settings.get("crm") or {}).get("deletionCheckSeconds")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return timedelta(seconds=raw)
    return timedelta(seconds=get_settings().safety_sync_seconds)


def read(
    crm: CrmClient,
    collection: str,
    since: str | None,
    checked: str | None,
    *,
    listing: Callable[[], Iterable[Any]],
    now: datetime,
    period: timedelta,
) -> CrmRead:
    """The changes of `collection` since `since` (None: `listing()`, the first sync), with
    its deletions by what the connector offers (see the module doc)."""
    feed = FEEDS[collection]
    if since is None:  # a full listing: the next comparison is a period away
        live, gone = split(listing())
        first = None if crm.supports(feed.feed) else stamp(now)
        return CrmRead(tuple(live), tuple(gone), checked=first)
    if crm.supports(feed.feed):
        live, flagged = split(crm.changed_since(collection, since))
        fed = [str(d["id"]) for d in crm.deleted_since(collection, since) if d.get("id")]
        return CrmRead(tuple(live), tuple(dict.fromkeys(flagged + fed)), checked=checked)
    if not crm.supports(feed.flag) and comparison_due(checked, now, period):
        live, gone = split(listing())
        return CrmRead(tuple(live), tuple(gone), listed=True, checked=stamp(now))
    live, flagged = split(crm.changed_since(collection, since, show_deleted=True))
    if flagged:
        crm.discovery.learned(feed.flag, True)
    return CrmRead(tuple(live), tuple(flagged), checked=checked)
