"""Beat-driven tasks of the sync cache: the hourly retry of due items and the expiry after
retention."""

from __future__ import annotations

from brightsync.celery import app
from brightsync.domains import CACHE_KINDS
from brightsync.sync_cache import cache, watch


@app.task(name="brightsync.unmatched.retry")
def retry(force: bool = False) -> dict[str, int]:
    """The hourly retry of due items (`force`: every item, as `brightsync unmatched retry`)."""
    return cache.retry_job(CACHE_KINDS, force=force)


@app.task(name="brightsync.unmatched.expire")
def expire() -> int:
    return cache.expire_job(CACHE_KINDS)


@app.task(name="brightsync.unmatched.retry_addresses")
def retry_addresses(org_id: int, addresses: list[str]) -> dict[str, int]:
    """A contact appeared in the CRM (e.g. through the contacts sync): act on it now."""
    return watch.on_new_contacts(org_id, set(addresses), CACHE_KINDS)


@app.task(name="brightsync.unmatched.watch_crm_contacts")
def watch_crm_contacts() -> int:
    return watch.watch_all(CACHE_KINDS)
