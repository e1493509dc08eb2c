"""`brightsync connector check BASE_URL`: a conformance report of a provider's connector.

The check behaves like BrightSync will: it creates a contact, a company, an email, an event
and a task with unique, clearly labelled test data, looks them up again, changes and deletes
what the contract lets it delete, and validates every answer against the contract's schemas.
Per capability it reports PASS, FAIL (with the reason) or SKIP (not offered, or could not be
tried); only the required capabilities (POST /emails, contacts lookup) decide the exit code.

Records without a delete operation (emails, companies) stay behind; the report lists them.

The report ends with what the connector gets you per domain (email, calendar, contacts,
tasks): works fully, works with limits (each named) or cannot run (and why), from the checks'
verdicts and, for what no check showed, the product's own capability discovery
(`connector.offered`).

It also reports whether creates honour the recommended `Idempotency-Key` header (a repeated
create with the same key answers the original record): a recommendation, never a failure.
"""

from __future__ import annotations

import requests

from brightsync.connector.checks import (
    auth,
    calendars,
    contacts,
    directory,
    emails,
    idempotency,
    records,
)
from brightsync.connector.checks.run import CheckRun
from brightsync.connector.checks.two_way import event_payload, task_payload, two_way
from brightsync.connector.offered import discovered, from_verdicts
from brightsync.connector.probe import Probe, record_path
from brightsync.connector.report import IDEMPOTENCY, PASS, CheckReport
from brightsync.crm.reach import connector_reach


def run_check(
    base_url: str,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 15.0,
    session: requests.Session | None = None,
) -> CheckReport:
    """Probe a connector at `base_url` and report per capability (see the module doc)."""
    given = {"token": token or "", "username": username, "password": password}
    credentials = {k: v for k, v in given.items() if v is not None}
    run = CheckRun(Probe(base_url, credentials, timeout, session))
    report = run_all(run)
    known, report.broken = from_verdicts(report)
    offered = discovered(base_url, credentials, known, timeout=timeout, session=session)
    report.reach = connector_reach(offered)
    return report


def run_all(run: CheckRun) -> CheckReport:
    """Every check, in the order whose records the later ones build on."""
    nobody = f"nobody-{run.id}@brightsync-check.example"
    run.record("auth", lambda: auth.auth(run, nobody))
    run.record("contacts.create", lambda: contacts.create(run))
    run.record("contacts.lookup", lambda: contacts.lookup(run, nobody))
    run.record("contacts.lookup.case", lambda: contacts.lookup_case(run))
    run.record("contacts.lookup.list", lambda: contacts.lookup_list(run))
    run.record("contacts.get", lambda: records.get(run, "contacts", "contact"))
    run.record("emails.create", lambda: emails.create(run))
    run.record("emails.lookup", lambda: emails.lookup(run))
    run.record("emails.get", lambda: records.get(run, "emails", "email"))
    run.record("emails.update", lambda: emails.update(run))
    run.record("emails.attach", lambda: emails.attach(run))
    run.record(
        "contacts.update",
        lambda: records.update(run, "contacts", "contact", {"title": "Updated"}),
    )
    run.record("contacts.since", lambda: records.since(run, "contacts", "contact"))
    run.record("paging", lambda: records.paging(run))
    run.record("contacts.delete", lambda: records.delete(run, "contacts", "contact2"))
    run.record("contacts.deleted", lambda: records.deleted(run, "contacts", "contact2"))
    run.record("contacts.showDeleted", lambda: records.show_deleted(run, "contacts", "contact2"))
    run.record("companies.create", lambda: directory.companies_create(run))
    run.record("companies.lookup.domain", lambda: directory.companies_lookup(run, "domain"))
    run.record("companies.lookup.name", lambda: directory.companies_lookup(run, "name"))
    run.record("companies.get", lambda: records.get(run, "companies", "company"))
    run.record("opportunities.lookup", lambda: directory.opportunities_lookup(run))
    run.record("users.me", lambda: directory.users_me(run))
    run.record("users.lookup", lambda: directory.users_lookup(run, nobody))
    run.record("leads.lookup", lambda: directory.leads_lookup(run, nobody))
    run.record("calendars.list", lambda: calendars.calendars_list(run))
    run.record(IDEMPOTENCY, lambda: idempotency.idempotency_key(run))
    two_way(run, "events", "event", event_payload(run), {"location": "Room 2"})
    two_way(run, "tasks", "task", task_payload(run), {"priority": "high"})
    cleanup(run)
    run.report.leftovers = [
        f"{role.rstrip('0123456789')} {record['id']}"
        for role, record in run.records.items()
        if "." not in role
    ]
    return run.report


def cleanup(run: CheckRun) -> None:
    """Delete what the contract can delete (the contacts and events/tasks checks did)."""
    if run.report.result("contacts.delete").status != PASS:
        return
    for role in ("contact", "contact3", "contact4"):
        contact = run.records.get(role)
        if contact and run.probe.call("DELETE", record_path("contacts", contact)).ok:
            run.records.pop(role)
