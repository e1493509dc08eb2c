"""New CRM contacts unblock waiting items at once, not at the next daily retry.

Beat polls each connector's `GET /contacts?since=` (when it offers it) from a per-org
watermark; the addresses of new or changed contacts retry their cached items and re-link
items already written without them, and the contacts runs share (crm/contact_cache.py)
are read from the CRM again. The contacts sync calls `on_new_contacts` directly.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from brightsync.clients.crm import CrmClient
from brightsync.clients.http import ApiError
from brightsync.coordination import singleton
from brightsync.crm.contact_cache import invalidate_org
from brightsync.crm.known_capabilities import known_capabilities
from brightsync.crm.matching import contact_addresses
from brightsync.db import session_scope
from brightsync.models import Organisation, utcnow
from brightsync.sync_cache.cache import Kinds, retry_due
from brightsync.times import parse_instant

log = logging.getLogger(__name__)


def on_new_contacts(org_id: int, addresses: set[str], kinds: Kinds) -> dict[str, int]:
    """Retry cached items and re-link written items that involve these addresses."""
    addresses = {a.lower() for a in addresses if a}
    if not addresses:
        return {}
    result = retry_due(kinds, org_id=org_id, addresses=addresses)
    relinked = 0
    for handler in kinds.values():
        relinked += handler.relink(org_id, addresses)
    return {**result, "relinked": relinked}


def watch_org(org_id: int, kinds: Kinds) -> dict[str, int]:
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            return {}
        since = org.crm_contacts_since
        if since is None:
            # First look: only what appears from now on can unblock anything new.
            org.crm_contacts_since = utcnow()
            return {"started": 1}
        crm = CrmClient.for_org(org, capabilities=known_capabilities(org))
    if not crm.supports("contacts_since"):
        return {"unsupported": 1}
    addresses: set[str] = set()
    newest = since
    changed_any = False
    for contact in crm.contacts_since(since):
        changed_any = True
        addresses.update(contact_addresses(contact))
        changed = parse_instant(contact.get("lastModifiedAt"))
        if changed is not None and changed > newest:
            newest = changed
    if changed_any:
        # Contacts found and shared by runs may be these, as they were: none is read again.
        invalidate_org(org_id)
    result = on_new_contacts(org_id, addresses, kinds) if addresses else {}
    with session_scope() as s:
        s.get(Organisation, org_id).crm_contacts_since = newest
    return {"contacts": len(addresses), **result}


def watch_all(kinds: Kinds) -> int:
    with singleton("crm-contact-watch", 600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            org_ids = list(s.scalars(select(Organisation.id)))
        for org_id in org_ids:
            try:
                watch_org(org_id, kinds)
            except ApiError as exc:
                log.warning("CRM contact watch of org %s failed: %s", org_id, exc)
        return len(org_ids)
