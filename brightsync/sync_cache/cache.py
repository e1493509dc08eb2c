"""The sync cache: emails, meetings, … that matched no contact, retried until they expire.

An item is retried `unmatched.retryEveryHours` after it was parked, then every as many
hours on that cadence (`next_retry`); an hourly job takes what is due, so a retry comes
within the hour after its time. A retry asks the CRM once per distinct address across the
due items of an organisation (batched), not once per item; what now matches is handed back
to its kind, which finishes it through the same path as a fresh item. Items past
`unmatched.retentionDays` are dropped and counted.

The cache knows no kind: its callers pass the table of kinds (`brightsync.domains.CACHE_KINDS`:
kind -> what reopens, resumes, expires and re-links its items, see `CachedKind`); items of a
kind not in the table stay in the cache, never dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from brightsync.clients.crm import CrmClient
from brightsync.clients.http import ApiError, AuthError, FinalError
from brightsync.config import get_settings
from brightsync.coordination import singleton
from brightsync.crm.matching import contact_addresses
from brightsync.crm.settings import effective_settings
from brightsync.db import dialect_insert, session_scope
from brightsync.models import Organisation, UnmatchedItem, utcnow

log = logging.getLogger(__name__)

BATCH = 2000
# The hourly retry's lock outlives no run interval: a killed retry never makes the next skip.
RETRY_LOCK_SECONDS = 45 * 60


class CachedKind(Protocol):
    def reopen(self, session: Session, org_id: int, keys: list[str]) -> list[int]:
        """In the cache's transaction: mark the now-matched items' work as to do; its ids."""
        ...

    def resume(self, ids: list[int]) -> None:
        """After that commit: finish the reopened work."""
        ...

    def expire(self, session: Session, org_id: int, keys: list[str], now: datetime) -> None:
        """In the cache's transaction: record that these items waited in vain."""
        ...

    def relink(self, org_id: int, addresses: set[str]) -> int:
        """Items already written without these addresses' contacts: attach them; how many."""
        ...


# kind -> its handling (a domain's module, e.g. `email.cached`).
Kinds = Mapping[str, CachedKind]


def retry_every(settings: Mapping[str, Any]) -> timedelta:
    """`unmatched.retryEveryHours` of an org's (effective) settings, 24 h when absent."""
    cfg = settings.get("unmatched")
    hours = cfg.get("retryEveryHours", 24) if isinstance(cfg, Mapping) else 24
    return timedelta(hours=int(hours))


def next_retry(due: datetime, now: datetime, every: timedelta) -> datetime:
    """When an item retried at `now` (it was due at `due`) is next due: the first time after
    `now` on its cadence of parking time + n × `every`.

    A late retry (the hourly job, a stopped beat) does not push later ones back, and an
    early one (`unmatched retry`, a new contact) leaves the due retry where it was.
    """
    if due > now:
        return due
    return due + every * ((now - due) // every + 1)


def park(
    session: Session,
    *,
    org_id: int,
    kind: str,
    key: str,
    user_id: int,
    subject: str | None,
    addresses: list[str],
    reason: str,
    settings: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Put an item in the cache (or refresh its reason); its expiry is set once, at entry."""
    now = now or utcnow()
    cfg = settings.get("unmatched", {})
    keep = timedelta(days=int(cfg.get("retentionDays", 30)))
    session.execute(
        dialect_insert(session)(UnmatchedItem)
        .values(
            org_id=org_id,
            kind=kind,
            key=key,
            user_id=user_id,
            subject=(subject or "")[:500] or None,
            addresses=sorted(set(addresses))[:200],
            reason=reason,
            attempts=0,
            next_retry_at=now + retry_every(settings),  # the first retry
            expires_at=now + keep,
            created_at=now,
        )
        .on_conflict_do_update(
            index_elements=["org_id", "kind", "key"],
            set_={"reason": reason, "user_id": user_id},
        )
    )


def _retry_org(
    org: Organisation, items: list[UnmatchedItem], now: datetime, kinds: Kinds
) -> dict[str, int]:
    crm = CrmClient.for_org(org, rate_limit=get_settings().crm_rate_per_second)
    addresses = sorted({a for item in items for a in item.addresses or []})
    known: set[str] = set()
    # One batched lookup per distinct address across the cache (the client chunks it); a
    # connector taking one address per call answers what the run's budget allows, and the
    # items of addresses not asked simply wait for the next retry.
    asked = crm.contacts_by_email(addresses, partial=True)
    for contacts in asked.values():
        for contact in contacts:
            known.update(contact_addresses(contact))
    # A person who became a CRM lead meanwhile unblocks too (the item is then logged
    # against the lead): one batched lookup of the addresses asked and still unknown.
    unknown = [a for a in addresses if a in asked and a not in known]
    if unknown and crm.supports("leads"):
        try:
            known.update(a for a, leads in crm.leads_by_email(unknown).items() if leads)
        except FinalError as exc:  # optional: a refused lookup leaves them to contacts
            if isinstance(exc, AuthError):
                raise
            log.warning("sync cache: lead lookup refused (%s)", exc)
    matched = [i for i in items if known.intersection(i.addresses or []) and i.kind in kinds]
    waiting = [i for i in items if i not in matched]
    for kind in sorted({i.kind for i in items if i.kind not in kinds}):
        log.warning("sync cache: items of kind %r have no retry handler; they wait", kind)
    every = retry_every(effective_settings(org.settings))
    with session_scope() as s:
        s.execute(
            update(UnmatchedItem)
            .where(UnmatchedItem.id.in_([i.id for i in waiting]))
            .values(attempts=UnmatchedItem.attempts + 1, last_attempt_at=now)
        )
        if waiting:  # by primary key: each item keeps its own cadence
            s.execute(
                update(UnmatchedItem),
                [
                    {"id": i.id, "next_retry_at": next_retry(i.next_retry_at, now, every)}
                    for i in waiting
                ],
            )
        reopened: dict[str, list[int]] = {}
        for kind in sorted({i.kind for i in matched}):
            keys = [i.key for i in matched if i.kind == kind]
            reopened[kind] = kinds[kind].reopen(s, org.id, keys)
        s.execute(delete(UnmatchedItem).where(UnmatchedItem.id.in_([i.id for i in matched])))
    for kind, ids in reopened.items():
        if ids:
            kinds[kind].resume(ids)
    return {
        "checked": len(items),
        "matched": len(matched),
        "waiting": len(waiting),
        "addresses": len(addresses),
    }


def retry_due(
    kinds: Kinds,
    force: bool = False,
    org_id: int | None = None,
    addresses: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """Retry due items (all items when `force`, those touching `addresses`, or `ids` now).

    Due items are read through the `next_retry_at` index, so an hourly run costs what is due.
    """
    now = utcnow()
    wanted = {a.lower() for a in addresses} if addresses is not None else None
    totals: dict[str, int] = defaultdict(int)
    with session_scope() as s:
        query = select(UnmatchedItem).where(UnmatchedItem.expires_at > now)
        if ids is not None:
            query = query.where(UnmatchedItem.id.in_(list(ids)))
        elif not force and wanted is None:
            query = query.where(UnmatchedItem.next_retry_at <= now)
        if org_id is not None:
            query = query.where(UnmatchedItem.org_id == org_id)
        items = list(s.scalars(query.order_by(UnmatchedItem.org_id, UnmatchedItem.id)))
        by_org: dict[int, list[UnmatchedItem]] = defaultdict(list)
        for item in items:
            if wanted is None or wanted.intersection(item.addresses or []):
                by_org[item.org_id].append(item)
        orgs = {
            o.id: o
            for o in s.scalars(select(Organisation).where(Organisation.id.in_(list(by_org))))
        }
    for oid, org_items in by_org.items():
        for start in range(0, len(org_items), BATCH):
            try:
                result = _retry_org(orgs[oid], org_items[start : start + BATCH], now, kinds)
            except ApiError as exc:
                log.warning("sync cache retry for org %s failed: %s", oid, exc)
                totals["errors"] += 1
                break
            for key, value in result.items():
                totals[key] += value
    return dict(totals)


def expire(kinds: Kinds, now: datetime | None = None) -> int:
    """Drop items past retention; each kind records its items as expired, with the reason."""
    now = now or utcnow()
    with session_scope() as s:
        rows = s.execute(
            select(UnmatchedItem.org_id, UnmatchedItem.kind, UnmatchedItem.key).where(
                UnmatchedItem.expires_at <= now
            )
        ).all()
        by_kind: dict[tuple[str, int], list[str]] = defaultdict(list)
        for org_id, kind, key in rows:
            by_kind[(kind, org_id)].append(key)
        for (kind, org_id), keys in by_kind.items():
            handler = kinds.get(kind)
            if handler is not None:
                handler.expire(s, org_id, keys, now)
        s.execute(delete(UnmatchedItem).where(UnmatchedItem.expires_at <= now))
    if rows:
        log.info("sync cache: %d item(s) expired", len(rows))
    return len(rows)


def retry_job(kinds: Kinds, force: bool = False) -> dict[str, int]:
    with singleton("unmatched-retry", RETRY_LOCK_SECONDS) as mine:
        return retry_due(kinds, force=force) if mine else {"skipped": 1}


def expire_job(kinds: Kinds) -> int:
    with singleton("unmatched-expire", 3600) as mine:
        return expire(kinds) if mine else 0
