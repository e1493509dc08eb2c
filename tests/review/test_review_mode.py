"""Review mode end to end through a real worker and the simulators, on both backends.

An organisation onboarded in review mode: its runs report what they would do (an email with
its matched contact, tasks in both directions) and write nothing anywhere; activation does
exactly that work, once. Then the mass-deletion guard: held deletions approved through the API
are carried out, rejected ones are not (the kept records come back where they were deleted).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack, wait_for
from tests.support.helpers import (
    crm_emails,
    decision,
    make_org,
    seed_contacts,
    send,
    sync_round,
)

OWNER = "u-ann"
WRITES = ("create", "update", "delete", "replace", "patch")


def writes(stack: Stack) -> dict[str, int]:
    """Record writes the simulators served (by operation), lookups and listings left out."""
    ops = {
        **{
            f"aurinko:{k}": v
            for k, v in stack.aurinko("GET", "/_control/stats").json()["byOperation"].items()
        },
        **{
            f"crm:{k}": v
            for k, v in stack.crm("GET", "/_control/stats").json()["byOperation"].items()
        },
    }
    return {
        op: n
        for op, n in ops.items()
        if op.rsplit(".", 1)[-1].lower() in WRITES and "subscription" not in op
    }


def reset_stats(stack: Stack) -> None:
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")


def crm_tasks(stack: Stack) -> list[dict[str, Any]]:
    return [t for t in stack.crm("GET", "/_control/records/tasks").json() if t["ownerId"] == OWNER]


def mailbox_tasks(stack: Stack, account_id: int) -> list[dict[str, Any]]:
    return stack.aurinko("GET", f"/_control/accounts/{account_id}/tasks").json()["records"]


def onboard(stack: Stack, org_id: int, services: list[str], mode: str) -> tuple[int, dict]:
    account = stack.aurinko(
        "POST", "/_control/accounts", json={"email": "ann@acme.com", "name": "Ann"}
    ).json()
    r = stack.admin(
        "POST",
        f"/api/v1/orgs/{org_id}/users",
        json={
            "email": "ann@acme.com",
            "crmUserId": OWNER,
            "aurinkoAccountId": account["id"],
            "aurinkoAccessToken": account["accessToken"],
            "services": services,
            "mode": mode,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], account


def test_review_then_activate_does_exactly_the_reviewed_work(clean_stack: Stack) -> None:
    stack = clean_stack
    r = stack.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": stack.crm_url, "authType": "bearer", "token": "x"},
            "mode": "sideways",
        },
    )
    assert r.status_code == 400 and "mode" in r.json()["fields"], r.text
    org_id = make_org(stack)
    r = stack.admin("PUT", f"/api/v1/orgs/{org_id}/mode", json={"mode": "review"})
    assert r.status_code == 200 and r.json()["mode"] == "review", r.text
    seed_contacts(
        stack,
        {
            "id": "c-dave",
            "firstName": "Dave",
            "lastName": "C",
            "emailAddresses": ["dave@customer.com"],
        },
    )
    stack.crm(
        "POST",
        "/_control/seed",
        json={
            "users": [{"id": OWNER, "name": "Ann", "email": "ann@acme.com", "timezone": "UTC"}],
            "tasks": [{"ownerId": OWNER, "subject": "Send the quote", "status": "notStarted"}],
        },
    ).raise_for_status()
    user_id, account = onboard(stack, org_id, ["email", "tasks"], "live")
    # The organisation's review mode covers its users, whatever they were created with.
    assert stack.admin("GET", f"/api/v1/users/{user_id}/review").json()["mode"] == "review"
    stack.aurinko(
        "POST", f"/_control/accounts/{account['id']}/tasks", json={"title": "Call Ben"}
    ).raise_for_status()
    sent = send(stack, "dave@customer.com", ["ann@acme.com"], "Quote please")
    rfc822 = sent["internetMessageId"]
    send(stack, "noreply@news.example", ["ann@acme.com"], "Newsletter")

    reset_stats(stack)
    for _ in range(2):  # repeated review runs report the same, still writing nothing
        sync_round(stack, user_id, "email")
        sync_round(stack, user_id, "tasks")
    assert writes(stack) == {}
    assert decision(stack, org_id, rfc822) is None  # not even claimed
    services = stack.admin("GET", f"/api/v1/users/{user_id}").json()["status"]
    assert {s["health"] for s in services.values()} == {"review"}
    assert crm_emails(stack, rfc822) == []

    report = stack.admin("GET", f"/api/v1/orgs/{org_id}/review").json()
    assert report["mode"] == "review"
    [email] = report["emails"]["toLog"]
    assert email["subject"] == "Quote please"
    assert email["matched"] == [{"address": "dave@customer.com", "contactId": "c-dave"}]
    [user_report] = report["users"]
    tasks = user_report["services"]["tasks"]
    creates = sorted(
        (w["side"], s["mailbox_id"] is not None)
        for s in tasks["steps"]
        for w in s["writes"]
        if w["op"] == "create"
    )
    # One task to create in each direction.
    assert creates == [("crm", True), ("mailbox", False)], tasks
    cli_like = stack.admin("GET", f"/api/v1/users/{user_id}/review").json()
    assert cli_like["emails"]["count"] == 1

    # Activate: the live runs do that work, once.
    r = stack.admin("POST", f"/api/v1/orgs/{org_id}/activate")
    assert r.status_code == 200 and r.json()["mode"] == "live", r.text
    wait_for(lambda: len(crm_emails(stack, rfc822)) == 1, timeout=60, message="email logged")
    wait_for(
        lambda: len(crm_tasks(stack)) == 2 and len(mailbox_tasks(stack, account["id"])) == 2,
        timeout=60,
        message="the reviewed tasks written",
    )
    sync_round(stack, user_id, "email")
    sync_round(stack, user_id, "tasks")
    done = writes(stack)
    # Exactly the reviewed work: one email logged, one task created on each side, nothing else.
    assert done == {"aurinko:task.create": 1, "crm:emails.create": 1, "crm:tasks.create": 1}, done
    assert sorted(t["subject"] for t in crm_tasks(stack)) == ["Call Ben", "Send the quote"]
    assert sorted(t["title"] for t in mailbox_tasks(stack, account["id"])) == [
        "Call Ben",
        "Send the quote",
    ]
    assert len(crm_emails(stack, rfc822)) == 1
    assert decision(stack, org_id, rfc822)["state"] == "logged"
    # The newsletter was skipped in review and in live alike.
    assert stack.admin("GET", f"/api/v1/users/{user_id}").json()["mode"] == "live"


def test_held_deletions_approved_are_done_rejected_are_not(clean_stack: Stack) -> None:
    stack = clean_stack
    org_id = make_org(stack)
    stack.crm(
        "POST",
        "/_control/seed",
        json={"users": [{"id": OWNER, "name": "Ann", "email": "ann@acme.com", "timezone": "UTC"}]},
    ).raise_for_status()
    user_id, account = onboard(stack, org_id, ["tasks"], "live")
    tasks_url = f"/_control/accounts/{account['id']}/tasks"
    for n in range(10):
        stack.aurinko("POST", tasks_url, json={"title": f"Task {n}"}).raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert len(crm_tasks(stack)) == 10
    for task in crm_tasks(stack):  # all deleted in the CRM: the guard holds the mass deletion
        stack.crm("DELETE", f"/api/v1/tasks/{task['id']}").raise_for_status()
    sync_round(stack, user_id, "tasks")
    assert len(mailbox_tasks(stack, account["id"])) == 10

    page = stack.admin("GET", f"/api/v1/orgs/{org_id}/held-deletions").json()
    assert page["total"] == 10
    status = stack.admin("GET", f"/api/v1/orgs/{org_id}/status").json()
    assert status["heldDeletions"]["count"] == 10
    assert status["possibleDuplicates"] == {"count": 0, "items": []}
    ids = [item["id"] for item in page["items"]]
    titles = {item["id"]: item["record"]["title"] for item in page["items"]}
    approve, reject = ids[:6], ids[6:]
    bad = stack.admin("POST", f"/api/v1/orgs/{org_id}/held-deletions/approve", json={"ids": ["x"]})
    assert bad.status_code == 400, bad.text
    r = stack.admin("POST", f"/api/v1/orgs/{org_id}/held-deletions/approve", json={"ids": approve})
    assert r.status_code == 202 and r.json()["links"] == sorted(approve), r.text
    r = stack.admin(
        "POST", f"/api/v1/orgs/{org_id}/held-deletions/reject", json={"ids": [*reject, 999999]}
    )
    assert r.status_code == 202 and r.json()["notHeld"] == [999999], r.text
    wait_for(
        lambda: stack.admin("GET", f"/api/v1/orgs/{org_id}/held-deletions").json()["total"] == 0,
        timeout=60,
        message="the decisions carried out",
    )
    sync_round(stack, user_id, "tasks")
    kept = sorted(t["title"] for t in mailbox_tasks(stack, account["id"]))
    assert kept == sorted(titles[i] for i in reject)
    # Rejected: the kept records were created again where they had been deleted, once each.
    assert sorted(t["subject"] for t in crm_tasks(stack)) == kept
    sync_round(stack, user_id, "tasks")
    assert sorted(t["subject"] for t in crm_tasks(stack)) == kept
