"""Task statuses out of the box, through the simulators with a real worker on both backends:
the reference CRM plays Salesforce's task-status picklist (any other value answers 400) and
the org has no `statusMap`."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import Stack
from tests.support.helpers import activate, make_org, sync_round
from tests.tasks.test_tasks_sync import crm_tasks, mailbox_tasks, register

OWNER = "u-ann"


def test_salesforce_statuses_without_a_status_map(clean_stack: Stack) -> None:
    stack = clean_stack
    stack.crm("POST", "/_control/settings", json={"taskStatuses": "salesforce"}).raise_for_status()
    org_id = make_org(stack)  # no statusMap
    stack.crm(
        "POST",
        "/_control/seed",
        json={
            "users": [{"id": OWNER, "name": "Ann", "email": "ann@acme.com"}],
            "tasks": [
                {"ownerId": OWNER, "subject": "Send the quote", "status": "Not Started"},
                {"ownerId": OWNER, "subject": "Chase legal", "status": "In Progress"},
            ],
        },
    ).raise_for_status()
    account = register(stack, org_id, "ann@acme.com")
    tasks_url = f"/_control/accounts/{account['id']}/tasks"
    stack.aurinko("POST", tasks_url, json={"title": "Call Ben"}).raise_for_status()
    user_id = activate(stack, org_id, "ann@acme.com", account, ["tasks"], OWNER)
    assert sync_round(stack, user_id, "tasks")["state"] != "error"

    crm = crm_tasks(stack)
    assert crm["Call Ben"]["status"] == "Not Started"  # the CRM's word, not "notStarted"
    assert crm["Chase legal"]["status"] == "In Progress"  # Google says "not started": kept
    mailbox = mailbox_tasks(stack, account["id"])

    # Completed in the CRM ("Completed" + completedAt): completed in the mailbox.
    # (completed after activation: tasks completed before it never sync)
    just_now = datetime.now(UTC).replace(microsecond=0).isoformat()
    patch = {"status": "Completed", "completedAt": just_now}
    stack.crm(
        "PATCH", f"/api/v1/tasks/{crm['Send the quote']['id']}", json=patch
    ).raise_for_status()
    # completedAt set under a status that still says otherwise: completed all the same.
    stack.crm(
        "PATCH",
        f"/api/v1/tasks/{crm['Chase legal']['id']}",
        json={"completedAt": just_now},
    ).raise_for_status()
    # Completed in the mailbox: written to the CRM as "Completed".
    ben = mailbox["Call Ben"]
    stack.aurinko(
        "PATCH", f"{tasks_url}/{ben['id']}", json={"status": "completed"}
    ).raise_for_status()
    assert sync_round(stack, user_id, "tasks")["state"] != "error"

    mailbox = mailbox_tasks(stack, account["id"])
    assert mailbox["Send the quote"]["status"] == "completed"
    assert mailbox["Chase legal"]["status"] == "completed"
    done = crm_tasks(stack)["Call Ben"]
    assert done["status"] == "Completed" and done["completedAt"]

    # Reopened in the mailbox: the CRM's word for "not started" again.
    stack.aurinko(
        "PATCH", f"{tasks_url}/{ben['id']}", json={"status": "notStarted"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    reopened = crm_tasks(stack)["Call Ben"]
    assert reopened["status"] == "Not Started" and reopened["completedAt"] is None

    # The CRM never had to refuse a value it does not know; the words are kept for the org.
    assert "400" not in stack.crm("GET", "/_control/stats").json()["byStatus"]
    from brightsync.crm.vocabulary import TASK_STATUS, known_words

    assert known_words(org_id, TASK_STATUS) == {
        "notStarted": "Not Started",
        "inProgress": "In Progress",
        "completed": "Completed",
    }
