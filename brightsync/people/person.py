"""A contact reduced to what duplicate matching compares: `prepare` reads a contact record
(checking its field types) and normalises names, mailboxes, phones, email domains and company.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brightsync.people.addresses import mailbox_key
from brightsync.people.domains import company_domain, registrable_label
from brightsync.people.names import fold_name
from brightsync.people.phones import DEFAULT_REGION, normalize_phone

_MAX_VALUES = 20  # emails / phones per record considered

_LEGAL_FORMS = frozenset(
    {
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "pty",
        "kg",
        "the",
        # Generic words that one record keeps and another drops ('Acme Labs' / 'Acme').
        "group",
        "holding",
        "holdings",
        "partners",
        "labs",
        "systems",
        "solutions",
        "technologies",
        "international",
    }
)


class InvalidContact(ValueError):
    """A contact record that cannot be read (wrong field types, missing object)."""


@dataclass(frozen=True, slots=True)
class Person:
    """A contact reduced to what matching compares (all values normalised)."""

    id: Any
    first: str = ""
    last: str = ""
    mailboxes: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    company: str = ""
    labels: tuple[str, ...] = ()  # company names its email domains spell ('acme' for acme.de)

    def to_row(self) -> list[Any]:
        return [
            self.id,
            self.first,
            self.last,
            self.mailboxes,
            self.phones,
            self.domains,
            self.company,
            self.labels,
        ]

    @classmethod
    def from_row(cls, row: list[Any]) -> Person:
        pid, first, last, mailboxes, phones, domains, company, labels = row
        return cls(
            pid,
            first,
            last,
            tuple(mailboxes),
            tuple(phones),
            tuple(domains),
            company,
            tuple(labels),
        )


def _strings(record: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> list[str]:
    """A list-of-strings field; also accepts one string or [{address|number|value: ...}]."""
    raw = record.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise InvalidContact(f"{name} must be a list of strings")
    out: list[str] = []
    for item in raw[:_MAX_VALUES]:
        if isinstance(item, Mapping):
            item = next((item[k] for k in keys if isinstance(item.get(k), str)), None)
        if item is None:
            continue
        if not isinstance(item, str):
            raise InvalidContact(f"{name} must be a list of strings")
        out.append(item)
    return out


def _text(record: Mapping[str, Any], name: str) -> str:
    raw = record.get(name)
    if raw is None:
        return ""
    if isinstance(raw, Mapping):  # {'name': 'Acme'} company shapes
        raw = raw.get("name") or ""
    if not isinstance(raw, str):
        raise InvalidContact(f"{name} must be a string")
    return raw


def normalize_company(name: object) -> str:
    """Company name for comparing: 'ACME, Inc.' -> 'acme'; '' when nothing is left."""
    words = [w for w in fold_name(name).split() if w not in _LEGAL_FORMS]
    return " ".join(words)


def prepare(record: Mapping[str, Any], region: str = DEFAULT_REGION) -> Person:
    """Normalise a contact record ({id, firstName, lastName, emailAddresses, phoneNumbers,
    company}; any may be empty) for matching. Raises InvalidContact for wrong field types."""
    if not isinstance(record, Mapping):
        raise InvalidContact("a contact must be a JSON object")
    pid = record.get("id")
    if isinstance(pid, bool) or (pid is not None and not isinstance(pid, str | int)):
        raise InvalidContact("id must be a string or an integer")
    emails = _strings(record, "emailAddresses", ("address", "email", "value"))
    phones = _strings(record, "phoneNumbers", ("number", "phone", "value"))
    mailboxes = tuple(dict.fromkeys(m for m in map(mailbox_key, emails) if m))
    domains = tuple(dict.fromkeys(d for d in map(company_domain, mailboxes) if d))
    return Person(
        id=pid,
        first=fold_name(_text(record, "firstName")),
        last=fold_name(_text(record, "lastName")),
        mailboxes=mailboxes,
        phones=tuple(dict.fromkeys(p for p in (normalize_phone(x, region) for x in phones) if p)),
        domains=domains,
        company=normalize_company(_text(record, "company")),
        labels=tuple(dict.fromkeys(x for x in map(registrable_label, domains) if x)),
    )
