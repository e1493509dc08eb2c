"""What one email sync run needs about its user and organisation, with its clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.crm import CrmClient
from brightsync.config import get_settings
from brightsync.db import session_scope
from brightsync.email.matching import Matcher
from brightsync.email.rules import EmailPolicy
from brightsync.models import Organisation, User, utcnow
from brightsync.subscriptions import aurinko_for
from brightsync.web.schemas import effective_settings


@dataclass
class EmailContext:
    user_id: int
    org_id: int
    account_id: str
    policy: EmailPolicy
    settings: dict[str, Any]
    aurinko: AurinkoClient
    _crm_factory: Any
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    @cached_property
    def crm(self) -> CrmClient:
        # One client per run: its contact-lookup cache is the run's batch cache.
        return self._crm_factory()

    @cached_property
    def matcher(self) -> Matcher:
        return Matcher(self.crm, self.policy, self.org_id)

    def close(self) -> None:
        if "crm" in self.__dict__:
            remember_capabilities(self.org_id, self.crm)


CAPABILITIES_FRESH_FOR = timedelta(hours=1)


def known_capabilities(org: Organisation) -> dict[str, bool]:
    """Stored probe results if fresh, with the org's explicit overrides on top."""
    known: dict[str, bool] = {}
    at = org.crm_capabilities_at
    if org.crm_capabilities and at is not None and utcnow() - at < CAPABILITIES_FRESH_FOR:
        known.update(org.crm_capabilities)
    known.update(((org.settings or {}).get("crm") or {}).get("capabilities") or {})
    return known


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


def load_context(user_id: int) -> EmailContext:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        org = s.get(Organisation, user.org_id)
        assert org is not None
        settings = effective_settings(org.settings)
        aurinko = aurinko_for(user)
        rate = get_settings().crm_rate_per_second
        caps = known_capabilities(org)
        org_snapshot = Organisation(
            id=org.id,
            name=org.name,
            domains=list(org.domains),
            crm_base_url=org.crm_base_url,
            crm_auth_type=org.crm_auth_type,
            crm_secret_enc=org.crm_secret_enc,
            settings=dict(org.settings or {}),
        )
        return EmailContext(
            user_id=user.id,
            org_id=org.id,
            account_id=user.aurinko_account_id,
            policy=EmailPolicy.from_settings(settings, org.domains),
            settings=settings,
            aurinko=aurinko,
            _crm_factory=lambda: CrmClient.for_org(
                org_snapshot, rate_limit=rate, capabilities=caps
            ),
        )
