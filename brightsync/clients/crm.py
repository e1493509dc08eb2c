"""Client of a tenant's CRM connector (the contract: docs/connector.md).

One `CrmClient` serves one sync run of one organisation. It offers the operations BrightSync
performs on the CRM; how a request is made and its answer read (credentials, the shared rate
budget and retry policy, JSON, paging, the PATCH-or-PUT fallback) is `CrmHttp`'s:

* `capabilities()` and `supports(name)` say what the connector offers (overrides per org,
  else harmless probes made once: `brightsync.clients.capabilities`); a write answered
  "no such operation" marks its capability unsupported for good;
* contact and company lookups are cached for the life of the client (= the run): an address
  asked once, hit or miss, is not asked again; `forget()` drops entries; contacts found may
  also be shared across runs (`shared_contacts`, set by the run's context:
  brightsync.crm.contact_cache), which this client's own contact writes keep current;
* list endpoints are followed to the end whichever paging style the connector uses, as
  iterators; deleted entries are never handed out as records (`crm_http.is_deleted`);
* a contacts lookup refusing lists (`contact_lookup_list`) is asked one address per call,
  at most `single_lookups` calls per client: past that, `LookupBudgetSpent`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import requests

from brightsync.clients.capabilities import Capabilities, CapabilityDiscovery
from brightsync.clients.crm_activities import CrmActivities
from brightsync.clients.crm_http import API, ContractError
from brightsync.clients.http import FinalError, RetryPolicy, TransientError

if TYPE_CHECKING:
    from brightsync.models.org import Organisation

log = logging.getLogger(__name__)


BUDGET_RETRY_SECONDS = 60.0  # how long what a spent lookup budget holds back waits


class SharedContacts(Protocol):
    """Contacts found, shared beyond this client (brightsync.crm.contact_cache)."""

    def read(self, addresses: Sequence[str]) -> dict[str, list[dict[str, Any]]]: ...

    def store(self, found: Mapping[str, Sequence[dict[str, Any]]]) -> None: ...

    def drop(self, addresses: Iterable[str]) -> None: ...

    def drop_all(self) -> None: ...


class LookupBudgetSpent(TransientError):
    """This run's one-address-per-call contact lookups are used up: the addresses not asked
    are unknown (not "no contact"); whatever needs them waits for a later run."""


def normalise_email(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def _addresses(contact: dict[str, Any]) -> set[str]:
    raw = contact.get("emailAddresses") or []
    if isinstance(raw, str):  # tolerate a comma-joined string (a contract violation)
        raw = raw.split(",")
    return {normalise_email(a) for a in raw if isinstance(a, str)}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return list(seen)


class CrmClient(CrmActivities):
    """The connector API of one organisation's business system."""

    def __init__(
        self,
        base_url: str,
        auth_type: str,
        secret: dict[str, Any],
        *,
        rate_key: str,
        rate_limit: int = 20,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        capabilities: dict[str, Any] | None = None,
        lookup_batch_size: int = 50,
        single_lookups: int = 200,
        page_size: int = 100,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            base_url,
            auth_type,
            secret,
            rate_key=rate_key,
            rate_limit=rate_limit,
            policy=policy,
            timeout=timeout,
            page_size=page_size,
            session=session,
            sleep=sleep,
        )
        self.lookup_batch_size = lookup_batch_size
        self.single_lookups_left = single_lookups  # one-address lookup calls this client may make
        self.discovery = CapabilityDiscovery(self, capabilities)
        self._contacts_by_email: dict[str, list[dict[str, Any]]] = {}
        self._companies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._leads_by_email: dict[str, list[dict[str, Any]]] = {}
        self.shared_contacts: SharedContacts | None = None
        self._unshared: set[str] = set()  # forgotten: asked of the connector, not the share

    @classmethod
    def for_org(
        cls, org: Organisation, *, rate_limit: int | None = None, **kwargs: Any
    ) -> CrmClient:
        """The client of an organisation's CRM (decrypts its stored credentials)."""
        from brightsync.config import get_settings
        from brightsync.crypto import decrypt_json

        settings = get_settings()
        crm_settings = (org.settings or {}).get("crm") or {}
        kwargs.setdefault("capabilities", crm_settings.get("capabilities"))
        kwargs.setdefault("timeout", (5.0, float(settings.crm_timeout_seconds)))
        kwargs.setdefault("single_lookups", settings.crm_single_lookups)
        return cls(
            org.crm_base_url,
            org.crm_auth_type,
            decrypt_json(org.crm_secret_enc),
            rate_key=f"crm:{org.id}",
            rate_limit=rate_limit or settings.crm_rate_per_second,
            **kwargs,
        )

    def __repr__(self) -> str:  # never the credentials
        return f"CrmClient({self.base_url!r}, {self.auth_type!r}, rate_key={self.rate_key!r})"

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        """Everything the connector offers (probes what is not known yet)."""
        return self.discovery.capabilities()

    def supports(self, name: str) -> bool:
        """One capability: the org's override, else a cached or fresh probe."""
        return self.discovery.supports(name)

    def probed(self) -> dict[str, bool]:
        """What this client has found out by probing (not the overrides it was given)."""
        return self.discovery.probed()

    def _write_refused(
        self, name: str, status: int | None, absent: tuple[int, ...] = (405, 501)
    ) -> None:
        self.discovery.learned_unsupported(name, status, absent)

    # ------------------------------------------------------------------ users

    def users_me(self) -> dict[str, Any]:
        return self._object("GET", f"{API}/users/me")

    def lookup_users(self, emails: Iterable[str]) -> list[dict[str, Any]]:
        wanted = _unique(normalise_email(e) for e in emails)
        out: list[dict[str, Any]] = []
        for chunk in _chunks(wanted, self.lookup_batch_size):
            out += self._list(f"{API}/users/lookup", {"emails": ",".join(chunk)})
        return out

    # ------------------------------------------------------------------ contacts

    def contacts_by_email(
        self, emails: Iterable[str], *, partial: bool = False
    ) -> dict[str, list[dict[str, Any]]]:
        """The contacts of each address (lower-cased), asking only for addresses not yet known:
        in lists, else (a list refused, `_ask_lists`) one per call within the budget, and
        past it `LookupBudgetSpent` (with `partial`: the answer leaves the others out)."""
        wanted = _unique(normalise_email(e) for e in emails)
        missing = [e for e in wanted if e not in self._contacts_by_email]
        shared = [e for e in missing if e not in self._unshared]
        if shared and self.shared_contacts is not None:
            self._contacts_by_email.update(self.shared_contacts.read(shared))
            missing = [e for e in missing if e not in self._contacts_by_email]
        if self.discovery.known("contact_lookup_list") is not False:
            missing = self._ask_lists(missing)
        if missing:
            asked = missing[: max(self.single_lookups_left, 0)]
            self.single_lookups_left -= len(asked)
            for address in asked:
                self._ask_contacts([address])
            if len(asked) < len(missing) and not partial:
                raise LookupBudgetSpent(
                    f"{len(missing) - len(asked)} address(es) wait: this run's one-address "
                    "contact lookups are used up",
                    retry_after=BUDGET_RETRY_SECONDS,
                )
        return {e: list(self._contacts_by_email[e]) for e in wanted if e in self._contacts_by_email}

    def _ask_lists(self, missing: list[str]) -> list[str]:
        """Ask in lists; a list refused (4xx) while its first address alone is answered
        means one address per call: the addresses not asked yet are returned."""
        for n, chunk in enumerate(_chunks(missing, self.lookup_batch_size)):
            try:
                self._ask_contacts(chunk)
            except FinalError as exc:
                if len(chunk) < 2 or exc.status in (None, 401, 403, 404):
                    raise
                try:
                    self._ask_contacts(chunk[:1])
                except FinalError:
                    raise exc from None
                self.discovery.learned("contact_lookup_list", False)
                return missing[n * self.lookup_batch_size + 1 :]
        return []

    def _ask_contacts(self, chunk: list[str]) -> None:
        found = self._list(f"{API}/contacts/lookup", {"emails": ",".join(chunk)})
        hits: dict[str, list[dict[str, Any]]] = {e: [] for e in chunk}
        for contact in found:
            if not isinstance(contact, dict):
                raise ContractError("contacts lookup returned a non-object", url="lookup")
            owned = _addresses(contact)
            matched = [e for e in chunk if e in owned] or (chunk if len(chunk) == 1 else [])
            for e in matched:
                hits[e].append(contact)
        self._contacts_by_email.update(hits)
        if self.shared_contacts is not None:
            self.shared_contacts.store(hits)

    def lookup_contacts(self, emails: Iterable[str]) -> list[dict[str, Any]]:
        """Contacts owning any of the addresses (batched, cached per client, case-insensitive)."""
        out: dict[str, dict[str, Any]] = {}
        for contacts in self.contacts_by_email(emails).values():
            for contact in contacts:
                out.setdefault(str(contact.get("id")), contact)
        return list(out.values())

    def forget(self, emails: Iterable[str]) -> None:
        """Drop cached lookups of these addresses (the next lookup asks the connector)."""
        for e in emails:
            self._contacts_by_email.pop(normalise_email(e), None)
            self._unshared.add(normalise_email(e))

    def _forget_contact(self, contact_id: Any) -> None:
        for address, contacts in list(self._contacts_by_email.items()):
            if any(str(c.get("id")) == str(contact_id) for c in contacts):
                del self._contacts_by_email[address]

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self._get("contacts", contact_id)

    def create_contact(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        created = self._created("contacts", payload, idempotency_key)
        # Known addresses now have this contact too; unknown ones stay unknown.
        known: dict[str, list[dict[str, Any]]] = {}
        for address in _addresses({**payload, **created}):
            if address in self._contacts_by_email:
                self._contacts_by_email[address].append(created)
                known[address] = self._contacts_by_email[address]
        if self.shared_contacts is not None:  # shared: what is known, the rest asked again
            self.shared_contacts.drop(_addresses({**payload, **created}) - set(known))
            self.shared_contacts.store(known)
        return created

    def update_contact(self, contact_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        self._forget_contact(contact_id)
        updated = self._update("contacts", contact_id, patch)
        self.forget(_addresses({**patch, **updated}))
        if self.shared_contacts is not None:
            self.shared_contacts.drop_all()  # the addresses it had are not known here
        return updated

    def delete_contact(self, contact_id: str) -> bool:
        self._forget_contact(contact_id)
        deleted = self._delete("contacts", contact_id)
        if self.shared_contacts is not None:
            self.shared_contacts.drop_all()
        return deleted

    def contacts_since(self, since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        """Contacts changed at or after `since` (all contacts without it), every page."""
        return self.changed_since("contacts", since)

    def deleted_contacts_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        """`{id, deletedAt}` of contacts deleted at or after `since`."""
        return self.deleted_since("contacts", since)

    # ------------------------------------------------------------------ leads

    def leads_by_email(self, emails: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The leads of each address (lower-cased), asking only for addresses not yet known
        (cached for the client's life, as contact lookups are)."""
        wanted = _unique(normalise_email(e) for e in emails)
        missing = [e for e in wanted if e not in self._leads_by_email]
        for chunk in _chunks(missing, self.lookup_batch_size):
            found = self._list(f"{API}/leads/lookup", {"emails": ",".join(chunk)})
            hits: dict[str, list[dict[str, Any]]] = {e: [] for e in chunk}
            for lead in found:
                if not isinstance(lead, dict):
                    raise ContractError("leads lookup returned a non-object", url="lookup")
                owned = _addresses(lead)
                for e in [e for e in chunk if e in owned]:
                    hits[e].append(lead)
            self._leads_by_email.update(hits)
        return {e: list(self._leads_by_email[e]) for e in wanted}

    # ------------------------------------------------------------------ companies

    def lookup_companies(
        self, domain: str | None = None, name: str | None = None, *, refresh: bool = False
    ) -> list[dict[str, Any]]:
        """Companies by domain or by name (cached per client; `refresh` asks again)."""
        if bool(domain) == bool(name):
            raise ValueError("pass exactly one of domain or name")
        key = ("domain", domain.strip().lower()) if domain else ("name", str(name).strip())
        if refresh or key not in self._companies:
            self._companies[key] = self._list(f"{API}/companies/lookup", {key[0]: key[1]})
        return list(self._companies[key])

    def get_company(self, company_id: str) -> dict[str, Any]:
        return self._get("companies", company_id)

    def create_company(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        created = self._created("companies", payload, idempotency_key)
        for domain in payload.get("domains") or []:
            self._companies.pop(("domain", str(domain).lower()), None)
        self._companies.pop(("name", str(payload.get("name", "")).strip()), None)
        return created

    # ------------------------------------------------------------------ opportunities

    def lookup_opportunities(
        self, contact_ids: Iterable[str] = (), company_ids: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        contacts = _unique(str(c) for c in contact_ids)
        companies = _unique(str(c) for c in company_ids)
        if not contacts and not companies:
            return []
        params = {
            "contactIds": ",".join(contacts) or None,
            "companyIds": ",".join(companies) or None,
        }
        return self._list(f"{API}/opportunities/lookup", {k: v for k, v in params.items() if v})
