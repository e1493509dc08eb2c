"""Contacts: created with test addresses, found again by any address, in any case."""

from __future__ import annotations

from typing import Any

from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, NotOffered, ids, shape


def contact_payload(run: CheckRun, tag: str) -> dict[str, Any]:
    return {
        "firstName": "Connector",
        "lastName": f"Check {run.id} {tag}",
        "emailAddresses": [
            f"check-{run.id}-{tag}@{run.domain}",
            f"check-{run.id}-{tag}-alt@{run.domain}",
        ],
        "phoneNumbers": ["+1 555 0100"],
        "title": "Conformance check",
    }


def find(run: CheckRun, addresses: str) -> list[Any]:
    records = run.probe.get_list(
        f"{API}/contacts/lookup", {"emails": addresses}, what="contacts lookup"
    )
    for record in records:
        shape("contacts", record, "contacts lookup answer")
    return records


def create(run: CheckRun) -> str:
    first = run.created("contacts", contact_payload(run, "a"), "contact")
    run.records["contact.created"] = dict(first)
    second = run.created("contacts", contact_payload(run, "b"), "contact2")
    return f"created contacts {first['id']} and {second['id']}"


def lookup(run: CheckRun, nobody: str) -> str:
    if find(run, nobody):
        raise Failed(f"lookup of {nobody} (nobody's address) returned contacts")
    if "contact" not in run.records:
        return "answers; matching not verified (no test contact could be created)"
    one = run.records["contact"]["id"]
    if str(one) not in ids(find(run, run.address("a"))):
        raise Failed(f"lookup of {run.address('a')} did not return contact {one}")
    if str(one) not in ids(find(run, f"check-{run.id}-a-alt@{run.domain}")):
        raise Failed(f"lookup by the contact's second address did not return {one}")
    return "finds contacts by any of their addresses; [] for unknown"


def lookup_list(run: CheckRun) -> str:
    """Several addresses in one lookup. Optional: a connector that answers a list with 4xx
    is asked one address per call (a run's calls budgeted)."""
    one = run.need("contact")["id"]
    two = run.need("contact2", "not tried: needs two created contacts")["id"]
    path = f"{API}/contacts/lookup"
    reply = run.probe.call("GET", path, params={"emails": f"{run.address('a')},{run.address('b')}"})
    if 400 <= reply.status < 500 and reply.status not in (401, 403, 404):
        raise NotOffered(
            f"{reply.describe()}: one address per call (BrightSync asks one per call, at most "
            "BRIGHTSYNC_CRM_SINGLE_LOOKUPS per run)"
        )
    found = ids(find(run, f"{run.address('a')},{run.address('b')}"))
    if not {str(one), str(two)} <= set(found):
        raise Failed(f"lookup of two addresses returned {found}, not both {one} and {two}")
    return "finds the contacts of several addresses per call"


def lookup_case(run: CheckRun) -> str:
    contact = run.need("contact")
    shouted = run.address("a").upper()
    if str(contact["id"]) not in ids(find(run, shouted)):
        raise Failed(
            f"lookup of {shouted} did not return contact {contact['id']} stored as "
            f"{run.address('a')}: lookups must ignore case"
        )
    return "matches addresses case-insensitively"
