"""Webhook subscriptions: checking and adding them (the handshake is the caller's, see
webhooks.py), reading, listing and deleting them, and sending lifecycle events. Change
notifications leave from the core (AurinkoSimulator.store), outcomes come back to it.
"""

from __future__ import annotations

from typing import Any

from brightsync.sandbox.aurinko.model import Account, Subscription
from brightsync.sandbox.aurinko.records import bad_request, not_found
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def check_subscription(
    sim: AurinkoSimulator, account: Account, body: Any
) -> tuple[str, str, list[str]]:
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    resource, url = body.get("resource"), body.get("notificationUrl")
    filters = body.get("filters") or []
    if not isinstance(resource, str) or not resource:
        raise bad_request("resource is required")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise bad_request("notificationUrl must be an http(s) URL")
    if not isinstance(filters, list) or any(f != "withoutDrafts" for f in filters):
        raise bad_request("filters may only contain withoutDrafts")
    with sim.lock:
        if resource != "/email/tracking" and sim.resource_feed(account, resource) is None:
            raise bad_request(f"unsupported resource {resource}")
    return resource, url, list(filters)


def add_subscription(
    sim: AurinkoSimulator, account: Account, resource: str, url: str, filters: list[str]
) -> Subscription:
    with sim.lock:
        sub = Subscription(next(sim.subscription_ids), account.id, resource, url, filters)
        sim.subscriptions[sub.id] = sub
        return sub


def get_subscription(sim: AurinkoSimulator, account: Account | None, sub_id: Any) -> Subscription:
    with sim.lock:
        try:
            sub = sim.subscriptions.get(int(sub_id))
        except (TypeError, ValueError):
            sub = None
        if sub is None or (account is not None and sub.account_id != account.id):
            raise not_found(f"subscription {sub_id}")
        return sub


def list_subscriptions(
    sim: AurinkoSimulator, account: Account, limit: int, offset: int, include_inactive: bool
) -> dict[str, Any]:
    with sim.lock:
        subs = [
            s
            for s in sorted(sim.subscriptions.values(), key=lambda s: s.id)
            if s.account_id == account.id and (s.active or include_inactive)
        ]
        page = subs[offset : offset + limit]
        return {
            "offset": offset,
            "totalSize": len(subs),
            "done": offset + len(page) >= len(subs),
            "records": [s.to_json() for s in page],
        }


def delete_subscription(sim: AurinkoSimulator, account: Account, sub_id: Any) -> None:
    with sim.lock:
        sub = get_subscription(sim, account, sub_id)
        del sim.subscriptions[sub.id]


def send_lifecycle(
    sim: AurinkoSimulator, account_id: int, event: str, error: str | None, subscription: Any = None
) -> list[int]:
    if event not in ("error", "active"):
        raise bad_request('event must be "error" or "active"')
    with sim.lock:
        account = sim.account(account_id)
        if subscription is not None:
            subs = [get_subscription(sim, account, subscription)]
        else:
            subs = [s for s in sim.subscriptions.values() if s.account_id == account.id]
        for sub in subs:
            body: dict[str, Any] = {
                "subscription": sub.id,
                "resource": sub.resource,
                "accountId": account.id,
                "lifecycleEvent": event,
            }
            if error:
                body["error"] = error
            sim.webhooks.send(sub, body, kind="lifecycle")
        return [s.id for s in subs]
