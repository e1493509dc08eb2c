"""What the connector gets each domain, in the org status and on the dashboard: from what
discovery remembered and the org's overrides, and "not known yet" before any run; the
status never asks the connector."""

from __future__ import annotations

import re

from brightsync.db import session_scope
from brightsync.models import Organisation, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_org, make_user
from tests.support.helpers import (
    crm_stats,
    seed_contacts,
    send,
    wait_decided,
    wait_idle,
)
from tests.support.helpers import make_org as api_org
from tests.support.helpers import make_user as api_user

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _login(client) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "csrf_token": token})


def by_domain(connector: dict) -> dict[str, dict]:
    return {d["domain"]: d for d in connector["domains"]}


def test_before_any_run_nothing_is_known_and_it_says_so(client):
    org_id = make_org("Acme", crm_url="http://127.0.0.1:9")  # nothing listens: nothing asked
    make_user(org_id, "alice")
    connector = client.get(f"/api/v1/orgs/{org_id}/status", headers=AUTH).json["connector"]
    assert connector["known"] is False and connector["learnedAt"] is None
    assert connector["message"].startswith("Nothing is known yet")
    assert [d["verdict"] for d in connector["domains"]] == ["unknown"] * 4
    assert by_domain(connector)["calendar"]["notKnownYet"][:2] == [
        "GET /events?startAt=&endAt=",
        "GET /events?since=",
    ]
    _login(client)
    page = client.get(f"/dashboard/orgs/{org_id}").get_data(as_text=True)
    assert "What the connector gets you" in page and "Nothing is known yet" in page
    assert page.count("not known yet</span>") == 4


def test_remembered_capabilities_and_overrides_make_the_table(client):
    org_id = make_org("Acme", crm_url="http://127.0.0.1:9")
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        # What runs found out: everything of events and tasks, no deleted-tasks feed, no
        # users lookup; email's update never asked.
        org.crm_capabilities = {
            "events_window": True,
            "events_since": True,
            "deleted_events": True,
            "event_get": True,
            "event_create": True,
            "event_update": True,
            "event_delete": True,
            "tasks_since": True,
            "deleted_tasks": False,
            "task_get": True,
            "task_create": True,
            "task_update": True,
            "task_delete": True,
            "users": False,
            "contact_create": False,
            "opportunities": True,
            "email_lookup": True,
            "contacts_since": True,
        }
        org.crm_capabilities_at = utcnow()
        org.settings = {"crm": {"capabilities": {"email_update": False, "contacts_since": False}}}
    connector = client.get(f"/api/v1/orgs/{org_id}/status", headers=AUTH).json["connector"]
    assert connector["known"] is True and connector["learnedAt"]
    assert connector["overrides"] == ["contacts_since", "email_update"]
    rows = by_domain(connector)
    assert rows["email"]["verdict"] == "limited"
    assert [t.split(" (")[0] for t in rows["email"]["limits"]] == [
        "emails cannot be updated",  # pinned by the org
        "contacts cannot be auto-created",
        "emails waiting in the sync cache are retried on its schedule",  # the override wins
        "contacts found are not shared between runs",
    ]
    assert rows["email"]["notKnownYet"] == []
    assert rows["calendar"]["verdict"] == "limited"
    assert rows["calendar"]["limits"][0].startswith("internal attendees matched by address only")
    assert rows["contacts"]["verdict"] == "cannot"  # its feed is pinned off
    assert rows["tasks"]["label"] == "works with limits"
    assert rows["tasks"]["limits"][0].startswith(
        "CRM deletions reach mailboxes only at the safety sync"
    )
    _login(client)
    page = client.get(f"/dashboard/orgs/{org_id}").get_data(as_text=True)
    assert 'data-domain="tasks"' in page
    assert "CRM deletions reach mailboxes only at the safety sync" in page
    assert "with the organisation's settings for contacts_since, email_update" in page


def test_a_real_run_fills_the_table_and_the_status_asks_nothing(clean_stack):
    st = clean_stack
    seed_contacts(
        st, {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
    )
    # This connector has no deal lookup (404 until removed).
    fault = {"path": "/api/v1/opportunities/", "status": 404, "count": 0}
    st.crm("POST", "/_control/faults", json=fault).raise_for_status()
    try:
        org_id = api_org(st)

        def connector() -> dict:
            return st.admin("GET", f"/api/v1/orgs/{org_id}/status").json()["connector"]

        asked = crm_stats(st)["total"]
        assert connector()["known"] is False
        assert crm_stats(st)["total"] == asked  # the status request sent nothing

        alice = api_user(st, org_id, "alice@acme.com")
        sent = send(st, "dave@customer.com", ["alice@acme.com"], "Renewal")
        wait_decided(st, org_id, sent["internetMessageId"], "logged")
        wait_idle(st, [alice["id"]])

        asked = crm_stats(st)["total"]
        learned = connector()
        assert crm_stats(st)["total"] == asked
        assert learned["known"] is True and learned["learnedAt"]
        email = by_domain(learned)["email"]
        assert email["verdict"] == "limited"
        assert email["limits"] == [
            "emails are related to contacts and companies only (no GET /opportunities/lookup)"
        ]
        # An email run asks only what it uses: the two-way domains are still open.
        assert by_domain(learned)["calendar"]["verdict"] == "unknown"
    finally:
        st.crm("DELETE", "/_control/faults")
