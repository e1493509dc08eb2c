"""Match participants to CRM contacts; auto-create contacts and companies when allowed.

Creates go through brightsync.sync.creates: contacts keyed by address, companies by domain,
so a create whose answer was lost is found by the lookup instead of being made twice.

One Matcher per sync run: lookups are batched across the run's messages and cached by the
CRM client, so N messages (or meetings) with the same people cost one lookup, not N. Contact
lookups are cached for the run only (a contact created or changed in the CRM is seen by the
next run); opportunity lookups are shared across runs and workers for the organisation's
short window (brightsync.crm.opportunities).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from brightsync.clients.crm import CrmClient, LookupBudgetSpent
from brightsync.clients.http import AuthError, FinalError
from brightsync.coordination import lock
from brightsync.crm.opportunities import OpportunityCache
from brightsync.crm.relations import related_to
from brightsync.people.domains import company_domain, company_name_from_domain
from brightsync.people.names import split_name
from brightsync.people.similarity import find_similar_contact
from brightsync.sync.creates import create_once

log = logging.getLogger(__name__)


class Person(Protocol):
    """Someone who may become a contact: a normalised address and a display name ('' if none)."""

    @property
    def address(self) -> str: ...

    @property
    def name(self) -> str: ...


def contact_addresses(contact: dict[str, Any]) -> list[str]:
    raw = contact.get("emailAddresses") or []
    if isinstance(raw, str):
        raw = [raw]
    out = []
    for item in raw:
        value = item.get("address") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            out.append(value.strip().lower())
    return out


def lead_name(lead: dict[str, Any]) -> str:
    """A lead as a person reads it: "Lena Lead (Leadco)", else its company, else its id."""
    name = " ".join(
        str(lead.get(k)).strip() for k in ("firstName", "lastName") if lead.get(k)
    ).strip()
    company = str(lead.get("company") or "").strip()
    if name and company:
        return f"{name} ({company})"[:255]
    return (name or company or f"lead {lead.get('id')}")[:255]


def address_variants(first: str, last: str, domain: str) -> list[str]:
    """Addresses the same person plausibly also uses at `domain` (john.smith, jsmith, john…)."""
    f, la = first.lower().strip(), last.lower().strip()
    f = "".join(ch for ch in f if ch.isalnum())
    la = "".join(ch for ch in la if ch.isalnum())
    locals_: list[str] = []
    if f and la:
        locals_ += [
            f"{f}.{la}",
            f"{f}{la}",
            f"{f[0]}{la}",
            f"{f[0]}.{la}",
            f"{f}_{la}",
            f"{la}.{f}",
            f"{f}",
            f"{f}{la[0]}",
        ]
    elif la:
        locals_ += [la]
    return [f"{lp}@{domain}" for lp in dict.fromkeys(locals_)]


def _owner_ids(contacts: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(contact ids, company ids) whose opportunities a set of contacts is related to."""
    contact_ids = sorted({str(c["id"]) for c in contacts if c.get("id") is not None})
    company_ids = sorted({str(c["companyId"]) for c in contacts if c.get("companyId")})
    return tuple(contact_ids), tuple(company_ids)


class _Supports:
    """`caps.email_update` asks the client lazily: only what a run uses is ever probed."""

    def __init__(self, crm: CrmClient) -> None:
        self._crm = crm

    def __getattr__(self, name: str) -> bool:
        return self._crm.supports(name)


class Matcher:
    def __init__(
        self,
        crm: CrmClient,
        org_id: int,
        *,
        create_companies: bool = True,
        opportunity_cache_seconds: float = 0,
    ) -> None:
        self.crm = crm
        self.org_id = org_id
        self.create_companies = create_companies
        self.opportunity_cache = OpportunityCache(org_id, crm.base_url, opportunity_cache_seconds)
        self.caps = _Supports(crm)
        self._opps: list[dict[str, Any]] | None = None
        # The batched opportunity lookup was refused: each record asks for its own contacts.
        self._opps_per_record: dict[tuple[tuple[str, ...], tuple[str, ...]], list] | None = None
        self.created_contacts: list[dict[str, Any]] = []
        self.created_companies: list[dict[str, Any]] = []
        self._leads_refused = False  # the lead lookup was refused: none for this run

    # -- matching -------------------------------------------------------------------------
    def prefetch(self, addresses: Iterable[str]) -> None:
        """One batched lookup for every address a batch of messages will ask about. Not
        for a connector taking one address per call: each record then asks for its own, in
        order, so the run's lookup budget goes to the records it finishes."""
        wanted = sorted({a for a in addresses if a})
        if not wanted or self.crm.discovery.known("contact_lookup_list") is False:
            return
        try:
            self.crm.lookup_contacts(wanted)
        except LookupBudgetSpent:
            pass  # found out just now that lists are refused: each record asks for its own

    def match(self, addresses: Sequence[str]) -> dict[str, dict[str, Any]]:
        """address -> contact, for the addresses that have a contact (served from the cache)."""
        if not addresses:
            return {}
        found = self.crm.lookup_contacts(list(addresses))
        wanted = set(addresses)
        out: dict[str, dict[str, Any]] = {}
        for contact in found:
            for addr in contact_addresses(contact):
                if addr in wanted and addr not in out:
                    out[addr] = contact
        return out

    def relations(
        self, contacts: Sequence[dict[str, Any]], leads: Sequence[dict[str, Any]] = ()
    ) -> dict[str, list[str]]:
        return related_to(list(contacts), self._opportunities(contacts), leads)

    # -- leads ----------------------------------------------------------------------------
    def prefetch_leads(self, addresses: Iterable[str]) -> None:
        """One batched lead lookup for every address no contact matched (when offered)."""
        self.match_leads(sorted({a for a in addresses if a}))

    def match_leads(self, addresses: Sequence[str]) -> dict[str, dict[str, Any]]:
        """address -> lead, for the addresses that have one (served from the run's cache).

        Leads are optional: a connector without them, or one that refuses the lookup for
        good, gets none, and mail waits for a contact as it always did.
        """
        if not addresses or self._leads_refused or not self.caps.leads:
            return {}
        try:
            found = self.crm.leads_by_email(addresses)
        except AuthError:
            raise
        except FinalError as exc:
            log.warning("lead lookup refused (%s); no leads for this run", exc)
            self._leads_refused = True
            return {}
        return {a: leads[0] for a, leads in found.items() if leads}

    def prefetch_opportunities(self, contacts: Sequence[dict[str, Any]]) -> bool:
        """One opportunities lookup for the whole batch; relations() picks from it.

        False when the CRM refused it for good: relations() then asks for each record's own
        contacts and raises that record's refusal (FinalError), so one poisoned id fails the
        record it belongs to, not the deals of the whole batch.
        """
        self._opps_per_record = None
        if not self.caps.opportunities or not contacts:
            self._opps = []
            return True
        try:
            self._opps = self._lookup_opportunities(*_owner_ids(contacts))
        except AuthError:
            raise  # the connection is refused, not one record: the caller defers everything
        except FinalError as exc:
            log.warning("batched opportunity lookup refused (%s); asking record by record", exc)
            self._opps, self._opps_per_record = [], {}
            return False
        return True

    def _opportunities(self, contacts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._opps is None:
            self.prefetch_opportunities(contacts)
        if self._opps_per_record is None or not contacts:
            return self._opps or []
        ids = _owner_ids(contacts)
        if ids not in self._opps_per_record:
            self._opps_per_record[ids] = self._lookup_opportunities(*ids)  # may refuse
        return self._opps_per_record[ids]

    def _lookup_opportunities(
        self, contact_ids: Sequence[str], company_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        return self.opportunity_cache.lookup(
            self.crm.lookup_opportunities, contact_ids, company_ids
        )

    # -- auto-creation --------------------------------------------------------------------
    def ensure_contacts(self, candidates: Sequence[Person]) -> dict[str, dict[str, Any]]:
        """Contacts for candidates that have none: found again, a similar one, or created."""
        out: dict[str, dict[str, Any]] = {}
        if not candidates or not self.caps.contact_create:
            return out
        for person in candidates:
            contact = self._ensure_contact(person)
            if contact is not None:
                out[person.address] = contact
        return out

    def _ensure_contact(self, person: Person) -> dict[str, Any] | None:
        addr = person.address
        # Two workers may meet the same new person at once: one creates, the other finds.
        with lock(f"contact:{self.org_id}:{addr}") as mine:
            if not mine:
                return None
            self.crm.forget([addr])
            existing = self.match([addr])
            if addr in existing:
                return existing[addr]
            first, last = split_name(person.name, addr)
            domain = addr.rsplit("@", 1)[-1]
            variants = [v for v in address_variants(first, last, domain) if v != addr]
            if variants:
                similar = find_similar_contact(
                    first, last, addr, self.crm.lookup_contacts(variants)
                )
                if similar is not None:
                    log.info(
                        "linked %s to similar contact %s instead of creating",
                        addr,
                        similar.get("id"),
                    )
                    return similar
            body: dict[str, Any] = {
                "firstName": first,
                "lastName": last or addr.split("@", 1)[0],
                "emailAddresses": [addr],
            }
            company = self._company_for(addr)
            if company is not None:
                body["companyId"] = str(company["id"])
            try:
                made = create_once(
                    self.org_id,
                    "contact",
                    addr,
                    lambda key: self.crm.create_contact(body, idempotency_key=key),
                    lambda: self._contact_of(addr),
                )
            except FinalError as exc:
                log.warning("contact creation for a participant refused: %s", exc.message)
                return None
            self.crm.forget([addr])
            self.created_contacts.append(made.record)
            return made.record

    def _contact_of(self, addr: str) -> dict[str, Any] | None:
        """The contact of an address as the CRM has it now (past the run's cache)."""
        self.crm.forget([addr])
        return self.match([addr]).get(addr)

    def _company_for(self, addr: str) -> dict[str, Any] | None:
        return self.company_for([addr])

    def company_for(self, addresses: Sequence[str], name: str = "") -> dict[str, Any] | None:
        """The company of someone: found by the company domain of one of their addresses, then
        by `name`; else created once (when allowed) under that domain and name."""
        domain = next((d for d in map(company_domain, addresses) if d), None)
        name = name.strip()
        by_domain = bool(domain) and self.caps.company_lookup_domain
        by_name = bool(name) and self.caps.company_lookup_name
        if not (by_domain or by_name):
            return None  # nothing to look it up by: never create blindly

        def lookup(refresh: bool = False) -> dict[str, Any] | None:
            if by_domain:
                found = self.crm.lookup_companies(domain=domain, refresh=refresh)
                if found:
                    return found[0]
            if by_name:
                found = self.crm.lookup_companies(name=name, refresh=refresh)
                if found:
                    return found[0]
            return None

        company = lookup()
        if company is not None or not (self.create_companies and self.caps.company_create):
            return company
        key = domain if by_domain else f"name:{name.lower()}"
        with lock(f"company:{self.org_id}:{key}") as mine:
            if not mine:
                return None
            company = lookup(refresh=True)
            if company is not None:
                return company
            payload = {
                "name": name or company_name_from_domain(domain or "") or domain,
                "domains": [domain] if by_domain else [],
            }
            try:
                made = create_once(
                    self.org_id,
                    "company",
                    key,
                    lambda idem: self.crm.create_company(payload, idempotency_key=idem),
                    lambda: lookup(refresh=True),
                )
            except FinalError as exc:
                log.warning("company creation refused: %s", exc.message)
                return None
            self.created_companies.append(made.record)
            return made.record
