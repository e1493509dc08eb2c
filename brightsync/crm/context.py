"""What one sync run needs about its user and organisation, with its clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.crm import CrmClient
from brightsync.config import get_settings
from brightsync.crm.contact_cache import ContactCache
from brightsync.crm.known_capabilities import known_capabilities, remember_capabilities
from brightsync.crm.matching import Matcher
from brightsync.crm.settings import effective_settings
from brightsync.db import session_scope
from brightsync.models import Organisation, User
from brightsync.subscriptions import aurinko_for


@dataclass
class CrmContext:
    user_id: int
    org_id: int
    account_id: str
    org_domains: tuple[str, ...]
    settings: dict[str, Any]
    aurinko: AurinkoClient
    _crm_factory: Any
    counters: dict[str, int] = field(default_factory=dict)
    user_email: str = ""
    crm_user_id: str | None = None

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    @cached_property
    def crm(self) -> CrmClient:
        # One client per run: its contact-lookup cache is the run's batch cache; contacts
        # found are shared with the org's other runs when a change feed keeps them fresh.
        client: CrmClient = self._crm_factory()
        client.shared_contacts = ContactCache(
            self.org_id,
            client.base_url,
            self.contact_cache_seconds,
            enabled=lambda: client.supports("contacts_since"),
        )
        return client

    @property
    def create_companies(self) -> bool:
        """Auto-created contacts get a company too (the email settings' rule, for every kind)."""
        return bool(self.settings.get("email", {}).get("createCompanies", True))

    @property
    def opportunity_cache_seconds(self) -> int:
        """How long an opportunity lookup is shared (the email settings' rule, for every kind)."""
        return int(self.settings.get("email", {}).get("opportunityCacheSeconds", 0))

    @property
    def contact_cache_seconds(self) -> int:
        """How long contacts found are shared (the email settings' rule, for every kind)."""
        return int(self.settings.get("email", {}).get("contactCacheSeconds", 0))

    @cached_property
    def matcher(self) -> Matcher:
        return Matcher(
            self.crm,
            self.org_id,
            create_companies=self.create_companies,
            opportunity_cache_seconds=self.opportunity_cache_seconds,
        )

    def close(self) -> None:
        if "crm" in self.__dict__:
            remember_capabilities(self.org_id, self.crm)


C = TypeVar("C", bound=CrmContext)


def load_context(user_id: int, cls: type[C]) -> C:
    """A run context of class `cls` for this user, built from a snapshot of the org."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        org = s.get(Organisation, user.org_id)
        assert org is not None
        settings = effective_settings(org.settings, user.settings)  # the user's own over the org's
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
        return cls(
            user_id=user.id,
            org_id=org.id,
            account_id=user.aurinko_account_id,
            org_domains=tuple(org.domains),
            settings=settings,
            aurinko=aurinko,
            user_email=user.email,
            crm_user_id=user.crm_user_id,
            _crm_factory=lambda: CrmClient.for_org(
                org_snapshot, rate_limit=rate, capabilities=caps
            ),
        )
