"""What a logged email (or meeting) is attached to in the CRM: contacts, companies, one deal,
and the leads of people who are no contact yet.

Opportunity rule: the open opportunities of the matched contacts, else of their companies;
when several are open, the most recently modified one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_OLDEST = datetime.min.replace(tzinfo=UTC)


def _id(value: object) -> str | None:
    """CRM ids may be strings or numbers; compare them as strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None


def _ids(values: object) -> list[str]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes | Mapping):
        return []
    out = []
    for v in values:
        i = _id(v)
        if i is not None:
            out.append(i)
    return out


def _modified(value: object) -> datetime:
    """lastModifiedAt as an aware datetime; unknown or unparseable sorts as oldest."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value  # epoch ms or s
            return datetime.fromtimestamp(seconds, tz=UTC)
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return _OLDEST


def _is_open(opp: Mapping[str, Any]) -> bool:
    # Only an explicit closed flag closes a deal: a connector that omits it keeps it eligible.
    closed = opp.get("isClosed")
    if isinstance(closed, str):
        return closed.strip().lower() not in ("true", "1", "yes")
    return closed is not True and closed != 1


def _most_recent(opps: list[Mapping[str, Any]]) -> str | None:
    best: Mapping[str, Any] | None = None
    best_at = _OLDEST
    for opp in opps:  # strict '>' keeps the first on ties: stable for a given CRM answer
        at = _modified(opp.get("lastModifiedAt"))
        if best is None or at > best_at:
            best, best_at = opp, at
    return _id(best.get("id")) if best is not None else None


def _mappings(values: object) -> list[Mapping[str, Any]]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes | Mapping):
        return []
    return [v for v in values if isinstance(v, Mapping)]


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def opportunity_owners(opp: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """(contact ids, company id) an opportunity belongs to, as related_to() reads them."""
    return _ids(opp.get("contactIds")), _id(opp.get("companyId"))


def related_to(
    contacts: Iterable[Mapping[str, Any]] | None,
    opportunities: Iterable[Mapping[str, Any]] | None,
    leads: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, list[str]]:
    """relatedTo {'contacts', 'companies', 'opportunities'} for the matched contacts, plus
    'leads' when people without a contact are CRM leads (the key only when there are any, so
    a connector without leads gets what it always got).

    Companies are the matched contacts' companies; opportunities hold at most one id.
    """
    contact_list = _mappings(contacts)
    contact_ids = _unique(i for i in (_id(c.get("id")) for c in contact_list) if i)
    company_ids = _unique(i for i in (_id(c.get("companyId")) for c in contact_list) if i)
    open_opps = [o for o in _mappings(opportunities) if _id(o.get("id")) and _is_open(o)]
    wanted_contacts = set(contact_ids)
    by_contact = [o for o in open_opps if wanted_contacts.intersection(_ids(o.get("contactIds")))]
    chosen = _most_recent(by_contact)
    if chosen is None:
        wanted_companies = set(company_ids)
        by_company = [o for o in open_opps if _id(o.get("companyId")) in wanted_companies]
        chosen = _most_recent(by_company)
    out = {
        "contacts": contact_ids,
        "companies": company_ids,
        "opportunities": [chosen] if chosen else [],
    }
    lead_ids = _unique(i for i in (_id(ld.get("id")) for ld in _mappings(leads)) if i)
    if lead_ids:
        out["leads"] = lead_ids
    return out


def without_leads(
    related: Mapping[str, Any] | None, gone: Iterable[object]
) -> dict[str, list[str]]:
    """`related` less the leads in `gone` (their people are contacts now); the 'leads' key
    goes when none is left."""
    out = {k: list(_ids(v)) for k, v in (related or {}).items()}
    dropped = {i for i in map(_id, gone) if i}
    kept = [i for i in out.pop("leads", []) if i not in dropped]
    if kept:
        out["leads"] = kept
    return out
