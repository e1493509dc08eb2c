"""`why` for contacts and tasks after real runs (worker, simulators, both backends).

A contact and a task go each way; the admin API explains each link asked by the mailbox id
and by the CRM id; a CRM contact with logged mail whose mailbox copy is deleted is held, and
`why` says so and why.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.contacts.test_contacts_sync import OWNER, crm, mailbox, mailbox_contact
from tests.support.helpers import activate, make_org, person, send, sync_round, wait_decided
from tests.tasks.test_tasks_sync import crm_tasks, mailbox_tasks


def test_why_explains_contact_and_task_links(clean_stack: Stack) -> None:
    stack = clean_stack
    org_id = make_org(stack, settings={"contacts": {"conflict": "crm"}})
    stack.crm(
        "POST",
        "/_control/seed",
        json={
            "users": [{"id": OWNER, "name": "Ann", "email": "ann@acme.com"}],
            "contacts": [
                {
                    "id": "c-anna",
                    "ownerId": OWNER,
                    "firstName": "Anna",
                    "lastName": "Kowalski",
                    "emailAddresses": ["anna@hooli.com"],
                }
            ],
            "tasks": [{"ownerId": OWNER, "subject": "Send the quote", "status": "notStarted"}],
        },
    ).raise_for_status()
    account = stack.aurinko(
        "POST", "/_control/accounts", json={"email": "ann@acme.com", "name": "Ann"}
    ).json()
    base = f"/_control/accounts/{account['id']}"
    stack.aurinko(
        "POST", f"{base}/contacts", json=mailbox_contact("Zoe", "New", "zoe@newco.io")
    ).raise_for_status()
    stack.aurinko("POST", f"{base}/tasks", json={"title": "Call Ben"}).raise_for_status()
    services = ["email", "contacts", "tasks"]
    user_id = activate(stack, org_id, "ann@acme.com", account, services, crm_user_id=OWNER)
    assert sync_round(stack, user_id, "contacts")["health"] != "failing"
    assert sync_round(stack, user_id, "tasks")["health"] != "failing"

    def why(kind: str, key: str) -> dict[str, Any]:
        r = stack.admin("GET", f"/api/v1/orgs/{org_id}/why/{kind}", params={"key": key})
        assert r.status_code == 200, (kind, key, r.text)
        return r.json()

    # Each link, asked by either side's id, is the same link, synced, in Ann's mailbox.
    pairs = {
        "contact": [
            (mailbox(stack, account["id"])[name]["id"], crm(stack)[name]["id"])
            for name in ("Zoe New", "Anna Kowalski")
        ],
        "task": [
            (mailbox_tasks(stack, account["id"])[title]["id"], crm_tasks(stack)[title]["id"])
            for title in ("Call Ben", "Send the quote")
        ],
    }
    for kind, ids in pairs.items():
        for mailbox_id, crm_id in ids:
            by_mailbox, by_crm = why(kind, mailbox_id), why(kind, crm_id)
            assert by_mailbox["link"] == by_crm["link"]
            assert (by_mailbox["matchedBy"], by_crm["matchedBy"]) == ("mailboxId", "crmId")
            assert (by_crm["mailboxId"], by_crm["crmId"]) == (mailbox_id, crm_id)
            assert by_crm["state"] == "synced" and by_crm["decision"] == "synced"
            assert by_crm["userId"] == user_id and by_crm["mailbox"] == "ann@acme.com"
            assert by_crm["lastSyncedAt"] and by_crm["lastRunAt"]
    assert why("contact", "c-anna")["settings"] == {"direction": "two-way", "conflict": "crm"}
    assert why("task", pairs["task"][0][1])["settings"]["conflict"] == "newest"

    # Anna has logged mail: deleting her in the mailbox holds the CRM deletion, and why says so.
    mail = send(stack, person("anna@hooli.com", "Anna Kowalski"), ["ann@acme.com"], "Order")
    wait_decided(stack, org_id, mail["internetMessageId"], "logged")
    anna_mailbox_id = pairs["contact"][1][0]
    stack.aurinko("DELETE", f"{base}/contacts/{anna_mailbox_id}").raise_for_status()
    sync_round(stack, user_id, "contacts")
    held = why("contact", "c-anna")
    assert held["state"] == "held" and held["decision"] == "held", held
    assert held["held"]["deleteIn"] == "crm" and held["held"]["deletedIn"] == "mailbox"
    assert "logged email" in held["why"] and "logged email" in held["held"]["reason"]
    assert why("contact", anna_mailbox_id)["link"] == held["link"]
