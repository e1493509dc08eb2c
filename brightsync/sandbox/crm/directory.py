"""Who is who in the reference CRM: contacts, companies, opportunities, users and leads, each
a blueprint, with the lookups BrightSync matches mailbox addresses by. Leads are only looked
up here; tests seed them and convert one to a contact through `/_control`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from brightsync.sandbox.crm.errors import BadRequest, NotFound
from brightsync.sandbox.crm.records import operation, shared_operations
from brightsync.sandbox.crm.state import broken, crm
from brightsync.sandbox.crm.wire import csv, out

contacts = Blueprint("contacts", __name__)
companies = Blueprint("companies", __name__)
opportunities = Blueprint("opportunities", __name__)
users = Blueprint("users", __name__)
leads = Blueprint("leads", __name__)

shared_operations(contacts, "get", "create", "update", "delete", "deleted", "list")
shared_operations(companies, "get", "create")


@operation(contacts, "lookup")
def lookup_contacts() -> Any:
    # Addresses are matched case-insensitively against every address of a contact.
    store = crm().store
    if broken("single_contact_lookup") and len(csv("emails")) > 1:
        raise BadRequest("this connector looks up one address per call")
    if broken("contact_lookup_case_sensitive"):
        wanted = set(csv("emails"))
        return [
            out("contacts", c)
            for c in store.live("contacts")
            if any(a in wanted for a in c.get("emailAddresses") or [])
        ]
    return [out("contacts", c) for c in store.by_keys("contacts", map(str.lower, csv("emails")))]


@operation(companies, "lookup")
def lookup_companies() -> Any:
    domain = (request.args.get("domain") or "").strip().lower()
    name = (request.args.get("name") or "").strip().lower()
    if not domain and not name:
        raise BadRequest("pass domain or name")
    keys = [f"domain:{domain}"] if domain else [f"name:{name}"]
    return [
        c
        for c in crm().store.by_keys("companies", keys)
        if (not domain or domain in [d.lower() for d in c.get("domains") or []])
        and (not name or (c.get("name") or "").lower() == name)
    ]


@operation(opportunities, "lookup")
def lookup_opportunities() -> Any:
    contact_ids = set(csv("contactIds", required=False))
    company_ids = set(csv("companyIds", required=False))
    if not contact_ids and not company_ids:
        raise BadRequest("pass contactIds or companyIds")
    keys = [f"company:{c}" for c in company_ids] + [f"contact:{c}" for c in contact_ids]
    return crm().store.by_keys("opportunities", keys)


@operation(users, "me")
def me() -> Any:
    found = crm().store.live("users")
    if not found:
        raise NotFound("no users")
    return found[0]


@operation(users, "lookup")
def lookup_users() -> Any:
    wanted = {e.lower() for e in csv("emails")}
    return [u for u in crm().store.live("users") if (u.get("email") or "").lower() in wanted]


@operation(leads, "lookup")
def lookup_leads() -> Any:
    # As contacts: any address of a lead, case-insensitively; converted leads are gone.
    return [out("leads", ld) for ld in crm().store.by_keys("leads", map(str.lower, csv("emails")))]


BLUEPRINTS = (contacts, companies, opportunities, users, leads)
