"""Opportunity lookups shared by every worker for a short window, per owner id.

The connector has no change feed for opportunities, so they cannot be kept fresh by events.
Each lookup's answer is split by the ids it was asked for (each contact id: the deals naming
it; each company id: the deals of that company) and kept for the organisation's
`email.opportunityCacheSeconds` in Redis, else in the database — never in process memory,
as the next email from the same people is usually handled by another worker. A later lookup
asks the CRM only for the ids not held, so one customer's second email costs no opportunity
call, and a thread with a new participant costs one call for that participant alone.

Contacts are never cached across runs, which is what keeps matches fresh: a contact created
or changed in the CRM (a new company, say) brings ids that are not held yet and are looked up
at once. What the window delays is a new or changed opportunity of ids already held.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from brightsync.coordination import Coordinator, get_coordinator
from brightsync.crm.relations import opportunity_owners

log = logging.getLogger(__name__)

Owner = tuple[str, str]  # ("contact" | "company", id)
Fetch = Callable[[Sequence[str], Sequence[str]], list[dict[str, Any]]]


def owners(contact_ids: Sequence[str], company_ids: Sequence[str]) -> list[Owner]:
    return [("contact", str(c)) for c in contact_ids] + [("company", str(c)) for c in company_ids]


def split_by_owner(
    opportunities: Sequence[Any], wanted: Sequence[Owner]
) -> dict[Owner, list[dict[str, Any]]]:
    """Each wanted owner's share of a lookup's answer: what related_to() would use of it.

    Every wanted owner gets an entry, [] when the answer holds none of its deals (a known
    "no deals" is worth keeping too). Deals that name none of them are related_to nothing.
    """
    out: dict[Owner, list[dict[str, Any]]] = {owner: [] for owner in wanted}
    # Ids compared as related_to() compares them (trimmed strings).
    by_id = {(kind, i.strip()): (kind, i) for kind, i in wanted}
    for opp in opportunities:
        if not isinstance(opp, dict):
            continue
        contact_ids, company_id = opportunity_owners(opp)
        for owner in {("contact", c) for c in contact_ids} | {("company", company_id or "")}:
            if owner in by_id:
                out[by_id[owner]].append(opp)
    return out


def merge(*lists: Sequence[Any]) -> list[dict[str, Any]]:
    """One list without repeats (a deal of two wanted owners is in both their shares)."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for items in lists:
        for opp in items:
            if not isinstance(opp, dict):
                continue  # related_to() reads objects only
            ident = opp.get("id")
            key = str(ident).strip() if ident is not None else ""
            if key and key in seen:
                continue
            seen.add(key)
            out.append(opp)
    return out


def cache_key(org_id: int, crm_url: str, owner: Owner) -> str:
    """The org id stays readable (one org's answers are never read for another); the CRM's
    URL is in the digest so a reconnected organisation never reads its old CRM's deals."""
    digest = hashlib.sha256("\n".join([crm_url, *owner]).encode()).hexdigest()[:32]
    return f"opps:{org_id}:{digest}"


class OpportunityCache:
    def __init__(
        self,
        org_id: int,
        crm_url: str,
        seconds: float,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.org_id = org_id
        self.crm_url = crm_url
        self.seconds = seconds
        self._coordinator = coordinator

    @property
    def coordinator(self) -> Coordinator:
        return self._coordinator or get_coordinator()

    def lookup(
        self, fetch: Fetch, contact_ids: Sequence[str], company_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The deals of these contacts and companies: held shares, and one `fetch` for the
        ids not held. A refusal of `fetch` is raised and nothing is stored for it."""
        if self.seconds <= 0:
            return fetch(contact_ids, company_ids)
        wanted = owners(contact_ids, company_ids)
        keys = {owner: cache_key(self.org_id, self.crm_url, owner) for owner in wanted}
        held = self._read(keys)
        missing = [owner for owner in wanted if owner not in held]
        fresh: list[dict[str, Any]] = []
        if missing:
            fresh = fetch(
                [i for kind, i in missing if kind == "contact"],
                [i for kind, i in missing if kind == "company"],
            )
            shares = split_by_owner(fresh, missing)
            self._store({keys[owner]: shares[owner] for owner in missing})
        return merge(fresh, *(held[owner] for owner in wanted if owner in held))

    def _read(self, keys: dict[Owner, str]) -> dict[Owner, list[dict[str, Any]]]:
        # The cache saves calls, it is never needed: when it cannot answer, the CRM does.
        try:
            raw = self.coordinator.cache_get_many(list(keys.values()))
        except Exception as exc:  # noqa: BLE001
            log.warning("opportunity cache unreadable (%s); asking the CRM", exc)
            return {}
        out: dict[Owner, list[dict[str, Any]]] = {}
        for owner, key in keys.items():
            if key not in raw:
                continue
            try:
                value = json.loads(raw[key])
            except ValueError:
                continue
            if isinstance(value, list):
                out[owner] = [v for v in value if isinstance(v, dict)]
        return out

    def _store(self, values: dict[str, list[dict[str, Any]]]) -> None:
        try:
            self.coordinator.cache_set_many(
                {key: json.dumps(share, default=str) for key, share in values.items()},
                self.seconds,
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("opportunity cache not stored (%s)", exc)
