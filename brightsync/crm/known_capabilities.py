"""What an organisation's connector is known to offer: probe results kept for an hour, plus
the org's overrides. The probing itself is `brightsync.clients.capabilities`'s."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from brightsync.clients.crm import CrmClient
from brightsync.db import session_scope
from brightsync.models import Organisation, utcnow

CAPABILITIES_FRESH_FOR = timedelta(hours=1)


def known_capabilities(org: Organisation) -> dict[str, bool]:
    """Stored probe results if fresh, with the org's explicit overrides on top."""
    known: dict[str, bool] = {}
    at = org.crm_capabilities_at
    if org.crm_capabilities and at is not None and utcnow() - at < CAPABILITIES_FRESH_FOR:
        known.update(org.crm_capabilities)
    known.update(capability_overrides(org))
    return known


def capability_overrides(org: Organisation) -> dict[str, Any]:
    """The capabilities the org pinned in its settings (`crm.capabilities`)."""
    return dict(((org.settings or {}).get("crm") or {}).get("capabilities") or {})


def remember_capabilities(org_id: int, crm: CrmClient) -> None:
    """Store what this run's client learned, for the runs of the next hour."""
    learned = crm.probed()
    if not learned:
        return
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            return
        fresh = (
            org.crm_capabilities_at and utcnow() - org.crm_capabilities_at < CAPABILITIES_FRESH_FOR
        )
        org.crm_capabilities = {**(org.crm_capabilities or {} if fresh else {}), **learned}
        if not fresh:
            org.crm_capabilities_at = utcnow()
