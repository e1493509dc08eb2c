"""Contacts: the mapping between mailbox contacts (Aurinko), CRM contacts and the core's fields.

Pure: plain values in, plain values out. The common fields (all normalised, so ``==`` means
"the same"):

- ``firstName``, ``lastName``: the mailbox's name.givenName/familyName, the CRM's own.
- ``emails``: every address, lower-cased, first one primary, no repeats.
- ``phones``: every number, E.164 when it can be read (so "+1 (415) 555-0100" and
  "415.555.0100" are one number), else as written.
- ``company``: the company *name*. The mailbox holds it as company.name; the CRM holds a
  ``companyId``, which the adapter turns into a name and back (find by domain, then by name,
  create when allowed: `crm/matching.py`).
- ``jobTitle``: the mailbox's company.jobTitle, the CRM's ``title``.
- ``notes``.

A field one side's record lacks is not guessed: it reads as empty, and the core's merge
takes the other side's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brightsync.people.phones import DEFAULT_REGION, normalize_phone

FIELDS = ("firstName", "lastName", "emails", "phones", "company", "jobTitle", "notes")
# What pairs a lost create or a moved record with its twin (exact content).
IDENTITY = ("firstName", "lastName", "emails")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def emails_of(items: Sequence[Any] | str | None) -> list[str]:
    """Addresses, lower-cased, in order, once each ({address} objects or plain strings)."""
    if isinstance(items, str):
        items = items.split(",")
    out: list[str] = []
    for item in items or []:
        raw = item.get("address") if isinstance(item, Mapping) else item
        addr = _text(raw).strip("<>").lower()
        if addr and "@" in addr and addr not in out:
            out.append(addr)
    return out


def phones_of(items: Sequence[Any] | None, region: str = DEFAULT_REGION) -> list[str]:
    out: list[str] = []
    for item in items or []:
        raw = item.get("number") if isinstance(item, Mapping) else item
        text = _text(raw)
        if not text:
            continue
        number = normalize_phone(text, region) or text
        if number not in out:
            out.append(number)
    return out


def from_mailbox(contact: Mapping[str, Any], region: str = DEFAULT_REGION) -> dict[str, Any]:
    name = contact.get("name") if isinstance(contact.get("name"), Mapping) else {}
    company = contact.get("company") if isinstance(contact.get("company"), Mapping) else {}
    return {
        "firstName": _text(name.get("givenName")),
        "lastName": _text(name.get("familyName")),
        "emails": emails_of(contact.get("emailAddresses")),
        "phones": phones_of(contact.get("phoneNumbers"), region),
        "company": _text(company.get("name")),
        "jobTitle": _text(company.get("jobTitle")),
        "notes": _text(contact.get("notes")),
    }


def to_mailbox(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An Aurinko contact create body: empty fields are left out (Aurinko's document types
    them as strings, arrays and objects: null is not a value it takes)."""
    return _without_empty(mailbox_patch(fields))


def mailbox_patch(
    patch: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An Aurinko contact update body: the fields in `patch` only. A field that became empty
    is cleared with the empty value of its documented type ("" or []), never null. `current`
    is the mailbox record now: name and company are objects, so a patch keeps their other
    parts."""
    current = current or {}
    body: dict[str, Any] = {}
    if "firstName" in patch or "lastName" in patch:
        name = _parts(current.get("name"))
        name.pop("displayName", None)  # recomputed from the parts
        if "firstName" in patch:
            name["givenName"] = patch["firstName"] or ""
        if "lastName" in patch:
            name["familyName"] = patch["lastName"] or ""
        body["name"] = name
    if "company" in patch or "jobTitle" in patch:
        company = _parts(current.get("company"))
        if "company" in patch:
            company["name"] = patch["company"] or ""
        if "jobTitle" in patch:
            company["jobTitle"] = patch["jobTitle"] or ""
        body["company"] = company
    if "emails" in patch:
        body["emailAddresses"] = [{"address": a} for a in patch["emails"] or []]
    if "phones" in patch:
        body["phoneNumbers"] = [{"number": p} for p in patch["phones"] or []]
    if "notes" in patch:
        body["notes"] = patch["notes"] or ""
    return body


def _parts(value: Any) -> dict[str, Any]:
    """An object's parts that hold a value (a part read as null is not sent back)."""
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, Mapping) else {}


def _without_empty(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, Mapping):
            value = _without_empty(value)
        if value not in (None, "", [], {}):
            out[key] = value
    return out


def from_crm(
    contact: Mapping[str, Any], company_name: str = "", region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """`company_name`: the name of the contact's companyId (the adapter looks it up)."""
    return {
        "firstName": _text(contact.get("firstName")),
        "lastName": _text(contact.get("lastName")),
        "emails": emails_of(contact.get("emailAddresses")),
        "phones": phones_of(contact.get("phoneNumbers"), region),
        "company": company_name,
        "jobTitle": _text(contact.get("title")),
        "notes": _text(contact.get("notes")),
    }


def to_crm(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A CRM contact payload without the company (create: all fields; update: the patch)."""
    body: dict[str, Any] = {}
    for common, crm in (("firstName", "firstName"), ("lastName", "lastName")):
        if common in fields:
            body[crm] = fields[common] or ""
    if "emails" in fields:
        body["emailAddresses"] = list(fields["emails"] or [])
    if "phones" in fields:
        body["phoneNumbers"] = list(fields["phones"] or [])
    if "jobTitle" in fields:
        body["title"] = fields["jobTitle"] or None
    if "notes" in fields:
        body["notes"] = fields["notes"] or None
    return body


def matchable(record_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The shape the duplicate matcher reads (`people/person.prepare`)."""
    return {
        "id": record_id,
        "firstName": fields.get("firstName") or "",
        "lastName": fields.get("lastName") or "",
        "emailAddresses": list(fields.get("emails") or []),
        "phoneNumbers": list(fields.get("phones") or []),
        "company": fields.get("company") or "",
    }


def in_category(contact: Mapping[str, Any], category: str | None) -> bool:
    """All contacts sync, or only those filed under the configured category."""
    if not category:
        return True
    wanted = category.strip().lower()
    tags = list(contact.get("categories") or []) + list(contact.get("keywords") or [])
    return any(isinstance(t, str) and t.strip().lower() == wanted for t in tags)
