"""Scenario helpers over real HTTP: the admin API, the simulators' control APIs."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import CRM_TOKEN, Stack, wait_for


def make_org(
    stack: Stack, settings: dict[str, Any] | None = None, domains: list[str] | None = None
) -> int:
    r = stack.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": domains or ["acme.com"],
            "crm": {"baseUrl": stack.crm_url, "authType": "bearer", "token": CRM_TOKEN},
            "settings": settings or {},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_user(
    stack: Stack,
    org_id: int,
    email: str,
    provider: str = "imap",
    services: list[str] | None = None,
    crm_user_id: str | None = None,
    subscribed: bool = True,
) -> dict[str, Any]:
    """A simulated mailbox registered with BrightSync; with `subscribed`, after a worker has
    created its subscriptions (a scenario that starts its own workers later waits itself)."""
    acct = stack.aurinko(
        "POST",
        "/_control/accounts",
        json={"email": email, "name": email.split("@")[0].title(), "provider": provider},
    )
    acct.raise_for_status()
    account = acct.json()
    user_id = activate(stack, org_id, email, account, services or ["email"], crm_user_id)
    if subscribed:
        user = wait_subscribed(stack, user_id)
    else:
        user = stack.admin("GET", f"/api/v1/users/{user_id}").json()
    return {**user, "accountId": account["id"], "accessToken": account["accessToken"]}


def activate(
    stack: Stack,
    org_id: int,
    email: str,
    account: dict[str, Any],
    services: list[str],
    crm_user_id: str | None = None,
) -> int:
    """Register an existing simulated mailbox with BrightSync; the new user's id."""
    r = stack.admin(
        "POST",
        f"/api/v1/orgs/{org_id}/users",
        json={
            "email": email,
            "aurinkoAccountId": account["id"],
            "aurinkoAccessToken": account["accessToken"],
            "services": services,
            **({"crmUserId": crm_user_id} if crm_user_id else {}),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def sync_round(stack: Stack, user_id: int, service: str) -> dict[str, Any]:
    """Run one sync of `service` to its end; returns the service status.

    A run whose write waits for a colleague's run (another worker creating the same record)
    ends queued, its follow-up due in seconds; one whose writes were deferred by a transient
    fault ends in error with a follow-up queued. Either way the round is the follow-up's end,
    which is what a user sees settle.
    """

    def status() -> dict[str, Any]:
        return stack.admin("GET", f"/api/v1/users/{user_id}").json()["status"][service]

    def ended(s: dict[str, Any]) -> bool:
        if s["runs"] <= runs or s["state"] in ("queued", "running"):
            return False
        return not (s["state"] == "error" and "writes deferred" in (s["lastError"] or ""))

    runs = status()["runs"]
    r = stack.admin("POST", f"/api/v1/users/{user_id}/sync", json={"service": service})
    assert r.status_code == 202, r.text
    return wait_for(lambda: ended(s := status()) and s, timeout=60, message=f"a {service} run")


def wait_subscribed(stack: Stack, user_id: int, timeout: float = 30) -> dict[str, Any]:
    """Registration answers at once; a worker then creates the subscriptions."""

    def settled():
        user = stack.admin("GET", f"/api/v1/users/{user_id}").json()
        return user if all(s["state"] != "pending" for s in user["subscriptions"]) else None

    user = wait_for(settled, timeout=timeout, message=f"user {user_id}'s subscriptions")
    assert all(s["state"] == "active" for s in user["subscriptions"]), user["subscriptions"]
    return user


def wait_first_sync(stack: Stack, user_id: int, timeout: float = 60) -> dict[str, Any]:
    """Registration starts each service's first sync at once: wait until every one is done
    and idle, for scenarios whose order of mailboxes matters. The user's status."""

    def done():
        status = stack.admin("GET", f"/api/v1/users/{user_id}").json()["status"]
        settled = all(s["firstSync"] == "done" and s["state"] == "idle" for s in status.values())
        return status if settled else None

    return wait_for(done, timeout=timeout, message=f"user {user_id}'s first sync")


def deliver(stack: Stack, **message: Any) -> dict[str, Any]:
    """Deliver mail into every simulated mailbox it is addressed to (and the sender's)."""
    r = stack.aurinko("POST", "/_control/mail", json=message)
    r.raise_for_status()
    return r.json()


def person(address: str, name: str | None = None) -> dict[str, str]:
    return {"address": address, "name": name or address.split("@")[0].title()}


def seed_contacts(stack: Stack, *contacts: dict[str, Any], companies=(), opportunities=()):
    r = stack.crm(
        "POST",
        "/_control/seed",
        json={
            "contacts": list(contacts),
            "companies": list(companies),
            "opportunities": list(opportunities),
        },
    )
    r.raise_for_status()
    return r.json()


def decision(stack: Stack, org_id: int, rfc822: str) -> dict[str, Any] | None:
    r = stack.admin("GET", f"/api/v1/orgs/{org_id}/emails", params={"rfc822MsgId": rfc822})
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()


def wait_decided(
    stack: Stack, org_id: int, rfc822: str, state: str = "logged", timeout: float = 60
) -> dict[str, Any]:
    def check():
        d = decision(stack, org_id, rfc822)
        return d if d and d["state"] == state else None

    return wait_for(check, timeout=timeout, message=f"{rfc822} to become {state}")


def crm_emails(stack: Stack, rfc822: str) -> list[dict[str, Any]]:
    r = stack.crm("GET", "/api/v1/emails", params={"rfc822MsgId": rfc822})
    r.raise_for_status()
    body = r.json()
    return body if isinstance(body, list) else body.get("records") or body.get("items") or []


def sync_now(stack: Stack, user_id: int) -> None:
    r = stack.admin("POST", f"/api/v1/users/{user_id}/sync", json={})
    assert r.status_code == 202, r.text


def wait_idle(stack: Stack, user_ids: list[int], service: str = "email", timeout: float = 60):
    """Wait until every user's service has run at least once and nothing is queued/running."""

    def idle():
        for uid in user_ids:
            st = stack.admin("GET", f"/api/v1/users/{uid}").json()["status"][service]
            if st["runs"] < 1 or st["state"] in ("queued", "running", "never"):
                return False
        return True

    wait_for(idle, timeout=timeout, message=f"users {user_ids} idle")


def aurinko_stats(stack: Stack) -> dict[str, Any]:
    return stack.aurinko("GET", "/_control/stats").json()


def crm_stats(stack: Stack) -> dict[str, Any]:
    return stack.crm("GET", "/_control/stats").json()


def send(
    stack: Stack,
    sender: str | dict[str, str],
    to: list[str | dict[str, str]],
    subject: str,
    *,
    cc: list[str | dict[str, str]] = (),
    body: str = "x",
    body_type: str = "text",
    **extra: Any,
) -> dict[str, Any]:
    """deliver() with addresses as plain strings (or person() dicts when a name matters)."""

    def who(p: str | dict[str, str]) -> dict[str, str]:
        return person(p) if isinstance(p, str) else p

    message: dict[str, Any] = {
        "from": who(sender),
        "to": [who(p) for p in to],
        "subject": subject,
        "body": body,
        "bodyType": body_type,
        **extra,
    }
    if cc:
        message["cc"] = [who(p) for p in cc]
    return deliver(stack, **message)


def notification_body(
    account: int | str, i: int, resource: str = "/email/messages", subscription: int = 1
) -> bytes:
    """The raw body of an Aurinko change notification for message `m{i}` of `account`."""
    return json.dumps(
        {
            "subscription": subscription,
            "resource": resource,
            "accountId": account,
            "payloads": [{"id": f"m{i}", "changeType": "created"}],
        }
    ).encode()
