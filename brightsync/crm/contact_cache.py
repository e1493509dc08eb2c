"""Contacts found, shared by every run and worker of an organisation for a short window.

A customer's second email is usually handled by another run, often in another worker: the
contact lookup its first run made is kept for the organisation's `email.contactCacheSeconds`
in Redis, else in the database (brightsync.coordination) — never in process memory.

What keeps matches fresh:

* only contacts found are kept, never "no contact": a contact created in the CRM (by a
  person, or by BrightSync) is matched by the very next lookup of its address;
* the CRM contact watch (`GET /contacts?since=`: sync_cache/watch.py every 5 minutes, and
  the contacts sync's own read) invalidates every entry of the organisation when it sees a
  contact changed or deleted: entries carry the organisation's epoch, a token the watch
  replaces (`invalidate_org`), and an entry of another epoch is not read. An answer the
  CRM gave before a change and stored after it carries the old epoch: never read either;
* BrightSync's own writes drop what they touch: a created or updated contact's addresses
  (`drop`), everything on an update or delete of one whose old addresses are unknown
  (`CrmClient` calls these through its `shared_contacts` hook).

Only where the connector offers that change feed (`contacts_since`): without it a change
would go unseen for the whole window, so each run looks its contacts up itself as before.

Keys hold the organisation's id in the clear (one org's contacts are never read for
another's lookups) and a digest of the CRM's URL with the address, so a reconnected
organisation never reads its old CRM's contacts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from brightsync.coordination import Coordinator, get_coordinator

log = logging.getLogger(__name__)

EPOCH_SECONDS = 86400.0  # an epoch outlives every window; when it lapses, entries go with it


def epoch_key(org_id: int) -> str:
    return f"contacts:{org_id}:epoch"


def entry_key(org_id: int, crm_url: str, address: str) -> str:
    digest = hashlib.sha256(f"{crm_url}\n{address}".encode()).hexdigest()[:32]
    return f"contacts:{org_id}:{digest}"


def encode_entry(epoch: str, contacts: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"e": epoch, "c": list(contacts)}, default=str)


def decode_entry(raw: str | None, epoch: str | None) -> list[dict[str, Any]] | None:
    """The contacts of an entry of this epoch; None for anything else (a dropped entry, an
    older epoch, no epoch at all, an unreadable value, an empty list)."""
    if not raw or not epoch:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("e") != epoch:
        return None
    contacts = value.get("c")
    if not isinstance(contacts, list):
        return None
    contacts = [c for c in contacts if isinstance(c, dict)]
    return contacts or None


def shareable(found: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """What of a lookup's answer may be kept: addresses with a contact (a miss never is)."""
    return {a: list(c) for a, c in found.items() if a and c}


class ContactCache:
    """The `shared_contacts` of one run's CrmClient."""

    def __init__(
        self,
        org_id: int,
        crm_url: str,
        seconds: float,
        *,
        enabled: Callable[[], bool] = lambda: True,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.org_id = org_id
        self.crm_url = crm_url
        self.seconds = seconds
        self._enabled = enabled
        self._on: bool | None = None
        self._coordinator = coordinator
        self._epoch: str | None = None

    @property
    def coordinator(self) -> Coordinator:
        return self._coordinator or get_coordinator()

    def on(self) -> bool:
        """Shared at all: a window, and a change feed to invalidate it (asked once)."""
        if self._on is None:
            self._on = self.seconds > 0 and bool(self._enabled())
        return self._on

    def read(self, addresses: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """address -> contacts, for the addresses held (in one round trip)."""
        if not addresses or not self.on():
            return {}
        keys = {a: entry_key(self.org_id, self.crm_url, a) for a in addresses}
        ekey = epoch_key(self.org_id)
        # The cache saves calls, it is never needed: when it cannot answer, the CRM does.
        try:
            raw = self.coordinator.cache_get_many([ekey, *keys.values()])
        except Exception as exc:  # noqa: BLE001
            log.warning("contact cache unreadable (%s); asking the CRM", exc)
            return {}
        self._epoch = raw.get(ekey)
        if self._epoch is None:
            # Made now, before the CRM is asked: an invalidation from here on replaces it, so
            # what this run stores from answers older than that is never read.
            self._epoch = self._new_epoch()
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for address, key in keys.items():
            contacts = decode_entry(raw.get(key), self._epoch)
            if contacts is not None:
                out[address] = contacts
        return out

    def store(self, found: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Keep the addresses that have a contact, under the epoch read before asking."""
        hits = shareable(found)
        if not hits or not self.on() or self._epoch is None:
            return  # nothing read first: no epoch known to be older than the answer
        values = {
            entry_key(self.org_id, self.crm_url, a): encode_entry(self._epoch, c)
            for a, c in hits.items()
        }
        try:
            self.coordinator.cache_set_many(values, self.seconds)
        except Exception as exc:  # noqa: BLE001
            log.warning("contact cache not stored (%s)", exc)

    def drop(self, addresses: Iterable[str]) -> None:
        """These addresses' entries are no longer read (a write of ours changed them)."""
        keys = {entry_key(self.org_id, self.crm_url, a): "" for a in addresses if a}
        if not keys or not self.on():
            return
        try:
            self.coordinator.cache_set_many(keys, self.seconds)
        except Exception as exc:  # noqa: BLE001
            log.warning("contact cache entries not dropped (%s); invalidating all", exc)
            self.drop_all()

    def drop_all(self) -> None:
        if self.on():
            invalidate_org(self.org_id, self.coordinator)
            self._epoch = None

    def _new_epoch(self) -> str | None:
        token = uuid.uuid4().hex
        try:
            self.coordinator.cache_set_many({epoch_key(self.org_id): token}, EPOCH_SECONDS)
        except Exception as exc:  # noqa: BLE001
            log.warning("contact cache epoch not stored (%s)", exc)
            return None
        return token


def invalidate_org(org_id: int, coordinator: Coordinator | None = None) -> None:
    """Every contact held for this organisation is no longer read (a new epoch)."""
    try:
        (coordinator or get_coordinator()).cache_set_many(
            {epoch_key(org_id): uuid.uuid4().hex}, EPOCH_SECONDS
        )
    except Exception as exc:  # noqa: BLE001 - the window bounds what a lost one costs
        log.warning("contact cache of org %s not invalidated (%s)", org_id, exc)
