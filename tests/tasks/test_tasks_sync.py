"""Two-way tasks sync through the simulators with a real worker, on both backends.

A Google mailbox (status "needs action / completed" only, due dates without a time) and a CRM
user in Auckland (UTC+13 in December), so a date-only due date that shifted through any time
zone would show.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.support.helpers import activate, make_org, sync_round

OWNER = "u-ann"


def register(stack: Stack, org_id: int, email: str) -> dict[str, Any]:
    account = stack.aurinko(
        "POST", "/_control/accounts", json={"email": email, "name": "Ann", "provider": "google"}
    ).json()
    return account


def mailbox_tasks(stack: Stack, account_id: int) -> dict[str, dict[str, Any]]:
    records = stack.aurinko("GET", f"/_control/accounts/{account_id}/tasks").json()["records"]
    return {t["title"]: t for t in records}


def crm_tasks(stack: Stack) -> dict[str, dict[str, Any]]:
    return {t["subject"]: t for t in stack.crm("GET", "/_control/records/tasks").json()}


def writes(stack: Stack) -> dict[str, int]:
    ops = {
        **stack.aurinko("GET", "/_control/stats").json()["byOperation"],
        **stack.crm("GET", "/_control/stats").json()["byOperation"],
    }
    return {
        op: n
        for op, n in ops.items()
        if op.split(".")[-1] in ("create", "update", "delete") and op.startswith("task")
    }


def reset_stats(stack: Stack) -> None:
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")


def test_tasks_two_way(clean_stack: Stack) -> None:
    stack = clean_stack
    org_id = make_org(stack, settings={"tasks": {"conflict": "crm"}})
    stack.crm(
        "POST",
        "/_control/seed",
        json={
            "users": [
                {
                    "id": OWNER,
                    "name": "Ann",
                    "email": "ann@acme.com",
                    "timezone": "Pacific/Auckland",
                }
            ],
            "tasks": [
                {
                    "ownerId": OWNER,
                    "subject": "Send the quote",
                    "status": "waitingOnOthers",  # Google can only say "not started"
                    "priority": "high",
                    "dueDate": "2026-12-10T17:00:00+13:00",
                    "relatedTo": {"contacts": ["c-1"], "companies": [], "opportunities": []},
                },
                {
                    "ownerId": OWNER,
                    "subject": "Old CRM task",
                    "status": "completed",
                    "completedAt": "2026-11-01T10:00:00Z",
                },
                {"ownerId": "someone-else", "subject": "Not Ann's", "status": "notStarted"},
            ],
        },
    ).raise_for_status()
    account = register(stack, org_id, "ann@acme.com")
    tasks_url = f"/_control/accounts/{account['id']}/tasks"
    stack.aurinko(
        "POST", tasks_url, json={"title": "Call Ben", "due": "2026-12-05T00:00:00Z"}
    ).raise_for_status()
    stack.aurinko(
        "POST",
        tasks_url,
        json={
            "title": "Old mailbox task",
            "status": "completed",
            "completed": "2026-11-01T10:00:00Z",
        },
    ).raise_for_status()

    user_id = activate(stack, org_id, "ann@acme.com", account, ["tasks"], OWNER)
    sync_round(stack, user_id, "tasks")

    # First activation: active tasks both ways, completed ones nowhere, others' tasks left alone.
    crm, mailbox = crm_tasks(stack), mailbox_tasks(stack, account["id"])
    assert set(crm) == {"Send the quote", "Old CRM task", "Not Ann's", "Call Ben"}
    assert set(mailbox) == {"Call Ben", "Old mailbox task", "Send the quote"}
    ben = crm["Call Ben"]
    assert ben["ownerId"] == OWNER and ben["status"] == "notStarted"
    # A date-only due date stays that date in the CRM user's zone (no day shift).
    assert ben["dueDate"].startswith("2026-12-04T11:00:00") or ben["dueDate"].startswith(
        "2026-12-05T00:00:00+13:00"
    ), ben["dueDate"]
    assert mailbox["Send the quote"]["due"] == "2026-12-10T00:00:00Z"
    assert mailbox["Send the quote"]["status"] == "notStarted"

    # Quiet rounds write nothing anywhere.
    reset_stats(stack)
    sync_round(stack, user_id, "tasks")
    sync_round(stack, user_id, "tasks")
    assert writes(stack) == {}

    # A mailbox edit reaches the CRM without touching what only the CRM holds: its finer
    # status, its due time, its relations.
    quote_id = mailbox["Send the quote"]["id"]
    stack.aurinko(
        "PATCH", f"{tasks_url}/{quote_id}", json={"title": "Send the signed quote"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    quote = crm_tasks(stack)["Send the signed quote"]
    assert quote["status"] == "waitingOnOthers"
    assert quote["relatedTo"]["contacts"] == ["c-1"]
    assert quote["dueDate"] in ("2026-12-10T04:00:00Z", "2026-12-10T17:00:00+13:00")
    assert quote["priority"] == "high"

    # A completion in the CRM reaches the mailbox; an edit there comes back.
    stack.crm(
        "PATCH", f"/api/v1/tasks/{ben['id']}", json={"status": "completed"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert mailbox_tasks(stack, account["id"])["Call Ben"]["status"] == "completed"

    # The same field edited on both sides: the org's policy (crm) decides.
    stack.aurinko(
        "PATCH", f"{tasks_url}/{quote_id}", json={"notes": "from the mailbox"}
    ).raise_for_status()
    stack.crm(
        "PATCH", f"/api/v1/tasks/{quote['id']}", json={"description": "from the CRM"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert mailbox_tasks(stack, account["id"])["Send the signed quote"]["notes"] == "from the CRM"
    assert crm_tasks(stack)["Send the signed quote"]["description"] == "from the CRM"

    # Deletions both ways; the CRM-created task is created in the mailbox.
    stack.aurinko("DELETE", f"{tasks_url}/{quote_id}").raise_for_status()
    stack.crm(
        "POST", "/api/v1/tasks", json={"ownerId": OWNER, "subject": "Book the demo"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert "Send the signed quote" not in crm_tasks(stack)
    assert "Book the demo" in mailbox_tasks(stack, account["id"])
    stack.crm("DELETE", f"/api/v1/tasks/{ben['id']}").raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert "Call Ben" not in mailbox_tasks(stack, account["id"])

    # A task moved out of the list and back comes back with a new id: a move, not a deletion.
    demo = mailbox_tasks(stack, account["id"])["Book the demo"]
    demo_in_crm = crm_tasks(stack)["Book the demo"]
    stack.aurinko("DELETE", f"{tasks_url}/{demo['id']}").raise_for_status()
    moved = stack.aurinko("POST", tasks_url, json={"title": "Book the demo"}).json()
    reset_stats(stack)
    sync_round(stack, user_id, "tasks")
    assert writes(stack) == {}
    assert crm_tasks(stack)["Book the demo"]["id"] == demo_in_crm["id"]

    # Completed in the mailbox: completed in the CRM, through the moved task's link.
    stack.aurinko(
        "PATCH", f"{tasks_url}/{moved['id']}", json={"status": "completed"}
    ).raise_for_status()
    sync_round(stack, user_id, "tasks")
    done = crm_tasks(stack)["Book the demo"]
    assert done["status"] == "completed" and done["completedAt"]

    reset_stats(stack)
    sync_round(stack, user_id, "tasks")
    sync_round(stack, user_id, "tasks")
    assert writes(stack) == {}
