"""What the CRM knows besides contacts: companies, opportunities, users, leads."""

from __future__ import annotations

from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, expect, ids, shape


def companies_create(run: CheckRun) -> str:
    company = run.created(
        "companies",
        {"name": f"BrightSync Check {run.id}", "domains": [run.domain]},
        "company",
    )
    return f"created company {company['id']}"


def companies_lookup(run: CheckRun, by: str) -> str:
    path = f"{API}/companies/lookup"
    unknown = {"domain": f"unknown-{run.domain}", "name": f"Nobody {run.id}"}[by]
    found = run.probe.get_list(path, {by: unknown}, what=f"company lookup by {by}")
    if found:
        raise Failed(f"lookup of {by}={unknown} (unused) returned {len(found)} companies")
    company = run.records.get("company")
    if company is None:
        return "answers; matching not verified (no test company could be created)"
    value = {"domain": run.domain, "name": company.get("name")}[by]
    found = run.probe.get_list(path, {by: value}, what=f"company lookup by {by}")
    for record in found:
        shape("companies", record, "company lookup answer")
    if str(company["id"]) not in ids(found):
        raise Failed(f"lookup of {by}={value} did not return company {company['id']}")
    return f"finds companies by {by}"


def opportunities_lookup(run: CheckRun) -> str:
    path = f"{API}/opportunities/lookup"
    params = {"contactIds": f"unknown-{run.id}"}
    if run.probe.get_list(path, params, what="opportunity lookup"):
        raise Failed("a lookup for an unknown contact id returned opportunities")
    contact, company = run.records.get("contact"), run.records.get("company")
    params = {}
    if contact:
        params["contactIds"] = str(contact["id"])
    if company:
        params["companyIds"] = str(company["id"])
    for record in run.probe.get_list(path, params, what="opportunity lookup") if params else []:
        shape("opportunities", record, "opportunity lookup answer")
    return "answers lookups by contactIds and companyIds"


def users_me(run: CheckRun) -> str:
    body = expect(run.probe.call("GET", f"{API}/users/me"), what="users/me").body
    shape("users", body, "GET /users/me answer")
    run.me = body
    return f"the credentials belong to user {body['id']}"


def users_lookup(run: CheckRun, nobody: str) -> str:
    path = f"{API}/users/lookup"
    if run.probe.get_list(path, {"emails": nobody}, what="user lookup"):
        raise Failed(f"lookup of {nobody} returned users")
    if not run.me or not run.me.get("email"):
        return "answers; matching not verified (no users/me)"
    found = run.probe.get_list(path, {"emails": str(run.me["email"])}, what="user lookup")
    for record in found:
        shape("users", record, "user lookup answer")
    if str(run.me["id"]) not in ids(found):
        raise Failed(f"lookup of {run.me['email']} did not return user {run.me['id']}")
    return "finds users by email"


def leads_lookup(run: CheckRun, nobody: str) -> str:
    """Leads are only looked up (the contract creates none): an unknown address finds none,
    this run's contact is not answered as a lead, and what comes back has a lead's shape."""
    path = f"{API}/leads/lookup"
    if run.probe.get_list(path, {"emails": nobody}, what="lead lookup"):
        raise Failed(f"lookup of {nobody} returned leads")
    contact = run.records.get("contact")
    if contact is None:
        return "answers; matching not verified (no test contact could be created)"
    address = str((contact.get("emailAddresses") or [""])[0])
    found = run.probe.get_list(path, {"emails": address}, what="lead lookup")
    for record in found:
        shape("leads", record, "lead lookup answer")
    if str(contact["id"]) in ids(found):
        raise Failed(f"lookup of {address} answered contact {contact['id']} as a lead")
    return "answers lookups by email; matching not verified (the contract creates no leads)"
