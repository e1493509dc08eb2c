"""Connectors as providers build them, through the simulators with real workers on both
backends (issue 17): every domain syncs without the optional endpoints, and a CRM deletion
reaches the mailbox without a deleted feed.

- "partial": the required endpoints plus the `?since=` feeds and writes of each domain: no
  deleted feeds (lists ignore showDeleted), no user endpoints, one address per contact
  lookup. Email, calendar, contacts and tasks sync; no run ends in error; every user stays
  active; a CRM deletion reaches the mailbox within one comparison period (2 s here).
- "show_deleted_only": no deleted feeds, lists honour `showDeleted=true`: a CRM deletion
  reaches the mailbox at the next delta.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from brightsync.sandbox.crm.breakages import PROFILES
from brightsync.sandbox.crm.harness import CrmSandbox
from tests.calendar.test_calendar_adapter import at, attendees, meeting
from tests.conftest import CRM_TOKEN, Stack
from tests.support.helpers import activate, send, sync_round, wait_decided, wait_subscribed

PERIOD = 2  # seconds between comparisons (the org's crm.deletionCheckSeconds)
SERVICES = ["email", "calendar", "contacts", "tasks"]


@pytest.fixture
def connector(request, clean_stack: Stack) -> Iterator[CrmSandbox]:
    with CrmSandbox(token=CRM_TOKEN, breakages=PROFILES[request.param]) as crm:
        yield crm


def org_on(stack: Stack, crm: CrmSandbox, period: int = PERIOD) -> int:
    r = stack.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": crm.url, "authType": "bearer", "token": CRM_TOKEN},
            "settings": {"crm": {"deletionCheckSeconds": period}},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def mailbox(stack: Stack, account: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    records = stack.aurinko("GET", f"/_control/accounts/{account['id']}/{kind}").json()["records"]

    def name(r: dict[str, Any]) -> str:
        family = (r.get("name") or {}).get("familyName") if kind == "contacts" else None
        return family or r.get("title") or r.get("subject") or r["id"]

    return {name(r): r for r in records}


def person(stack: Stack, org_id: int, email: str, crm_id: str, services: list[str]) -> tuple:
    account = stack.aurinko(
        "POST", "/_control/accounts", json={"email": email, "name": email.split("@")[0]}
    ).json()
    return activate(stack, org_id, email, account, services, crm_id), account


def synced(stack: Stack, user_id: int, service: str) -> dict[str, Any]:
    status = sync_round(stack, user_id, service)
    assert status["state"] != "error" and status["health"] == "active", status
    return status


def crm_records(crm: CrmSandbox, kind: str) -> dict[str, dict[str, Any]]:
    return {r.get("subject") or r.get("lastName"): r for r in crm.records(kind)}


@pytest.mark.parametrize("connector", ["partial"], indirect=True)
def test_a_partial_connector_syncs_every_domain(clean_stack: Stack, connector: CrmSandbox):
    stack, crm = clean_stack, connector
    crm.seed(
        contacts=[
            {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]},
            {"firstName": "Erin", "lastName": "Client", "emailAddresses": ["erin@client.com"]},
        ],
        tasks=[{"ownerId": "u-ann", "subject": "Send the quote", "status": "notStarted"}],
    )
    org_id = org_on(stack, crm)
    ann, ann_box = person(stack, org_id, "ann@acme.com", "u-ann", SERVICES)
    person(stack, org_id, "bob@acme.com", "u-bob", ["email"])  # a colleague BrightSync knows
    wait_subscribed(stack, ann)

    # Email: both contacts found, one address per lookup call.
    sent = send(stack, "dave@customer.com", ["ann@acme.com"], "Quote", cc=["erin@client.com"])
    logged = wait_decided(stack, org_id, sent["internetMessageId"])
    assert logged["state"] == "logged"
    # Calendar: a meeting with a colleague and a customer; the colleague's CRM user id comes
    # from the registered users (no users/lookup).
    meeting(
        stack,
        organizer={"address": "ann@acme.com"},
        subject="Quote review",
        start=at(2),
        end=at(2, 11),
        meetingInfo=attendees("bob@acme.com", "dave@customer.com"),
    )
    for service in SERVICES:
        synced(stack, ann, service)
    event = crm_records(crm, "events")["Quote review"]
    assert {"emailAddress": "bob@acme.com", "userId": "u-bob"}.items() <= next(
        a for a in event["attendees"] if a["emailAddress"] == "bob@acme.com"
    ).items()
    assert "Send the quote" in mailbox(stack, ann_box, "tasks")
    assert {"Customer", "Client"} <= set(mailbox(stack, ann_box, "contacts"))
    stats = crm.stats()
    assert "users.lookup" not in stats["byOperation"]
    # Lists refused once (which taught "one address per call"), then never asked again.
    assert stats["byStatus"].get("400", 0) == 1

    # Deleted in the CRM, which has no deleted feed: gone from the mailbox within a period.
    crm_task = crm_records(crm, "tasks")["Send the quote"]
    crm_contact = crm_records(crm, "contacts")["Client"]
    for path in (f"tasks/{crm_task['id']}", f"contacts/{crm_contact['id']}"):
        crm.http.delete(
            f"{crm.url}/api/v1/{path}", headers={"Authorization": f"Bearer {CRM_TOKEN}"}
        ).raise_for_status()
    time.sleep(PERIOD)
    for service in ("tasks", "contacts"):
        synced(stack, ann, service)
    assert "Send the quote" not in mailbox(stack, ann_box, "tasks")
    assert "Client" not in mailbox(stack, ann_box, "contacts")
    assert "Customer" in mailbox(stack, ann_box, "contacts")


@pytest.mark.parametrize("connector", ["show_deleted_only"], indirect=True)
def test_a_show_deleted_connector_brings_deletions_at_the_next_delta(
    clean_stack: Stack, connector: CrmSandbox
):
    stack, crm = clean_stack, connector
    crm.seed(tasks=[{"ownerId": "u-ann", "subject": "Chase legal", "status": "notStarted"}])
    org_id = org_on(stack, crm, period=3600)  # no comparison could find it in this test
    ann, ann_box = person(stack, org_id, "ann@acme.com", "u-ann", ["tasks"])
    synced(stack, ann, "tasks")
    assert "Chase legal" in mailbox(stack, ann_box, "tasks")
    task = crm_records(crm, "tasks")["Chase legal"]
    crm.http.delete(
        f"{crm.url}/api/v1/tasks/{task['id']}", headers={"Authorization": f"Bearer {CRM_TOKEN}"}
    ).raise_for_status()
    synced(stack, ann, "tasks")  # at once: no period to wait for
    assert "Chase legal" not in mailbox(stack, ann_box, "tasks")
    from brightsync.db import session_scope
    from brightsync.models import Organisation

    with session_scope() as s:  # learned from the deleted entry, remembered with the org
        assert s.get(Organisation, org_id).crm_capabilities["tasks_show_deleted"] is True
