"""Email address normalisation and address heuristics (pure, no I/O).

Every other module compares addresses only after `normalize_address`, so the same person is
recognised whatever spelling a mailbox provider or a CRM used (case, angle brackets,
`mailto:`, a display name around it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit minus the angle brackets
MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63
# Anything longer than this cannot become a valid address; refuse before regex work.
_MAX_RAW_LENGTH = 2048

# Local part: RFC 5322 dot-atom (atext) plus any non-ASCII printable char (RFC 6531 SMTPUTF8).
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# Domain label: letters/digits (Unicode allowed, IDN), hyphens inside only.
_LABEL_RE = re.compile(r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?")
_ANGLE_RE = re.compile(r"<([^<>]*)>")
_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f\"(),:;<>@\[\\\]]")


def _nfc_lower(text: str) -> str:
    # lower() may decompose (e.g. 'İ'); NFC afterwards keeps the result idempotent.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


def normalize_address(raw: object) -> str | None:
    """Return the canonical form of an email address, or None when it is not plausible.

    Accepts 'John <John@Example.COM>', 'mailto:x@y.org', ' x@y.org ' and similar; rejects
    display names, domain literals, IPs, missing TLDs and anything over 254 chars.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > _MAX_RAW_LENGTH:
        return None
    if "<" in text or ">" in text:
        # 'Name <addr>': the last bracketed part is the addr-spec.
        found = _ANGLE_RE.findall(text)
        if not found:
            return None
        text = found[-1].strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].split("?", 1)[0].strip()
    text = _nfc_lower(text)
    if text.endswith("."):
        text = text[:-1]  # a fully qualified 'example.com.' is the same domain
    if len(text) > MAX_ADDRESS_LENGTH or text.count("@") != 1:
        return None
    local, domain = text.split("@")
    if not _valid_local(local) or not _valid_domain(domain):
        return None
    return text


def _valid_local(local: str) -> bool:
    if not local or len(local) > MAX_LOCAL_LENGTH:
        return False
    if _FORBIDDEN_RE.search(local):
        return False
    if not unicodedata.is_normalized("NFC", local) or not local.isprintable():
        return False
    return _LOCAL_RE.fullmatch(local) is not None


def _valid_domain(domain: str) -> bool:
    if not domain or len(domain) > 253 or not domain.isprintable():
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False  # 'user@localhost' is not a deliverable external address
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH or not _LABEL_RE.fullmatch(label):
            return False
    tld = labels[-1]
    # A TLD is alphabetic (or punycode); this rejects IPv4 dotted quads.
    return tld.startswith("xn--") or any(ch.isalpha() for ch in tld)


def local_part(addr: object) -> str | None:
    """Local part of a (normalised) address, or None when the address is not plausible."""
    norm = normalize_address(addr)
    return norm.split("@", 1)[0] if norm else None


def domain_of(addr: object) -> str | None:
    """Domain of a (normalised) address, or None when the address is not plausible."""
    norm = normalize_address(addr)
    return norm.split("@", 1)[1] if norm else None


# Automated senders: never a person, whatever tag or suffix follows ('noreply+abc', 'bounce-9').
_AUTOMATED_PREFIXES = (
    "noreply",
    "donotreply",
    "dontreply",
    "mailerdaemon",
    "postmaster",
    "bounce",
    "notification",
    "notifications",
    "notify",
    "alert",
    "newsletter",
    "autoreply",
    "autoresponder",
    "automailer",
    "mailer",
    "daemon",
)
# Seen anywhere in the compacted local part: 'github-noreply', 'calendar-notification'.
_AUTOMATED_INFIXES = ("noreply", "donotreply", "mailerdaemon", "notification")
# Shared mailboxes of a team, not one person.
_ROLE_LOCALS = frozenset(
    {
        "abuse",
        "accounts",
        "accounting",
        "admin",
        "administrator",
        "alerts",
        "billing",
        "careers",
        "contact",
        "customerservice",
        "feedback",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "invoice",
        "invoices",
        "jobs",
        "legal",
        "mail",
        "marketing",
        "news",
        "noc",
        "office",
        "orders",
        "privacy",
        "press",
        "reception",
        "root",
        "sales",
        "security",
        "service",
        "support",
        "system",
        "team",
        "updates",
        "webmaster",
        "welcome",
    }
)
# VERP / SRS / BATV rewritten envelope senders.
_REWRITTEN_RE = re.compile(r"^(?:srs[01][=+\-]|prvs=|msprvs\d*=|btv1==)")


def is_role_address(addr: object) -> bool:
    """True for automated or shared mailboxes (noreply@, mailer-daemon@, sales@, bounce-1@...).

    Such addresses must never become auto-created contacts: they are not people.
    """
    local = local_part(addr)
    if local is None:
        return False
    if _REWRITTEN_RE.match(local):
        return True
    base = local.split("+", 1)[0]  # sub-address tag: 'noreply+x' is still 'noreply'
    if base in _ROLE_LOCALS:
        return True
    compact = re.sub(r"[.\-_]", "", base)
    if compact in _ROLE_LOCALS:
        return True
    if any(compact.startswith(p) for p in _AUTOMATED_PREFIXES):
        return True
    return any(part in compact for part in _AUTOMATED_INFIXES)


_GROUP_LOCALS = frozenset(
    {
        "all",
        "allstaff",
        "all-staff",
        "everyone",
        "everybody",
        "staff",
        "list",
        "lists",
        "group",
        "groups",
        "announce",
        "announcements",
        "members",
        "community",
        "discuss",
        "dev",
        "devel",
        "users",
        "employees",
        "company",
        "allhands",
        "all-hands",
    }
)
_GROUP_SUFFIXES = (
    "-list",
    "-all",
    "-group",
    "-team",
    "-announce",
    "-discuss",
    "-users",
    ".list",
    "_list",
)
_GROUP_DOMAIN_PREFIXES = ("lists.", "list.", "groups.", "mailman.", "listserv.")
_GROUP_DOMAINS = frozenset({"googlegroups.com", "groups.io", "freelists.org"})
_LIST_HEADERS = ("list-id", "list-post", "list-owner", "mailing-list", "x-mailing-list")


def _header_pairs(headers: Any) -> Iterable[tuple[str, str]]:
    """Yield (lowercased name, value) from internetHeaders [{name, value}] or a mapping."""
    if isinstance(headers, Mapping):
        items: Iterable[Any] = ({"name": k, "value": v} for k, v in headers.items())
    elif isinstance(headers, list | tuple):
        items = headers[:2000]  # bounded: huge header blocks must not cost unbounded time
    else:
        return
    for item in items:
        if isinstance(item, Mapping):
            name, value = item.get("name"), item.get("value")
            if isinstance(name, str) and isinstance(value, str):
                yield name.strip().lower(), value[:4096]


def is_group_list(addr: object, headers: Any = None) -> bool:
    """True when the address is a distribution list / mailing list rather than a person.

    Uses the address shape (all@, team-list@, x@googlegroups.com, x@lists.example.org) and,
    when the message headers are given, List-Id / List-Post naming this very address.
    """
    norm = normalize_address(addr)
    if norm is None:
        return False
    local, domain = norm.split("@", 1)
    base = local.split("+", 1)[0]
    if base in _GROUP_LOCALS or base.endswith(_GROUP_SUFFIXES):
        return True
    if domain in _GROUP_DOMAINS or domain.startswith(_GROUP_DOMAIN_PREFIXES):
        return True
    for name, value in _header_pairs(headers):
        if name not in _LIST_HEADERS:
            continue
        low = value.lower()
        if norm in low:
            return True  # List-Post: <mailto:dev@x.org>
        if name == "list-id" and f"{local}.{domain}" in low:
            return True  # List-Id: <dev.x.org> is the RFC 2919 spelling of dev@x.org
    return False


# Providers that deliver 'user+tag@' to 'user@' (sub-addressing), and those that also ignore
# dots in the local part. Only these are folded: elsewhere 'j.smith' and 'jsmith' may be two
# people, and '+' may be a real character of the mailbox name.
_PLUS_PROVIDERS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "yandex.com",
        "yandex.ru",
    }
)
_DOTLESS_PROVIDERS = frozenset({"gmail.com", "googlemail.com"})
_PROVIDER_ALIASES = {"googlemail.com": "gmail.com"}


def mailbox_key(addr: object) -> str | None:
    """The mailbox an address delivers to: 'J.Smith+news@googlemail.com' -> 'jsmith@gmail.com'.

    Plus-tags and dots are dropped only for providers known to ignore them; every other
    address is just normalised. None when the address is not plausible.
    """
    norm = normalize_address(addr)
    if norm is None:
        return None
    local, domain = norm.split("@", 1)
    if domain in _PLUS_PROVIDERS:
        local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_PROVIDERS:
        local = local.replace(".", "") or local
    return f"{local}@{_PROVIDER_ALIASES.get(domain, domain)}"
