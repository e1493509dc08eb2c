"""What the checked connector offers, per capability of `clients.capabilities`, for the
report's last table ("what this connector gets you", `crm.reach`).

A check's verdict decides where there is one: PASS is offered, FAIL or "not offered" is not
(a broken operation gets you nothing either). What the check could not try, or has no check
for, is asked the way BrightSync itself will ask: `CapabilityDiscovery` (harmless GETs and
OPTIONS, never a write) with the verdicts as its overrides. Without credentials it could use,
or when the connector stops answering, those stay unknown.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from brightsync.clients.capabilities import Capabilities, CapabilityDiscovery
from brightsync.clients.crm_http import CrmHttp
from brightsync.clients.http import ApiError, RetryPolicy
from brightsync.connector.report import FAIL, PASS, CheckReport

log = logging.getLogger(__name__)

# check name -> the capability it shows
CHECKED: dict[str, str] = {
    "emails.create": "email_create",
    "emails.lookup": "email_lookup",
    "emails.get": "email_get",
    "emails.update": "email_update",
    "contacts.lookup": "contact_lookup",
    "contacts.get": "contact_get",
    "contacts.create": "contact_create",
    "contacts.update": "contact_update",
    "contacts.delete": "contact_delete",
    "contacts.since": "contacts_since",
    "contacts.deleted": "deleted_contacts",
    "companies.lookup.domain": "company_lookup_domain",
    "companies.lookup.name": "company_lookup_name",
    "companies.get": "company_get",
    "companies.create": "company_create",
    "opportunities.lookup": "opportunities",
    "users.lookup": "users",
    "users.me": "users_me",
    "events.window": "events_window",
    "events.since": "events_since",
    "events.deleted": "deleted_events",
    "events.get": "event_get",
    "events.create": "event_create",
    "events.update": "event_update",
    "events.delete": "event_delete",
    "tasks.since": "tasks_since",
    "tasks.deleted": "deleted_tasks",
    "tasks.get": "task_get",
    "tasks.create": "task_create",
    "tasks.update": "task_update",
    "tasks.delete": "task_delete",
}


def from_verdicts(report: CheckReport) -> tuple[dict[str, bool], list[str]]:
    """(capability -> offered, where a verdict says so; the checks that failed)."""
    offered: dict[str, bool] = {}
    failed: list[str] = []
    for result in report.results:
        name = CHECKED.get(result.name)
        if name is None:
            continue
        if result.status == PASS:
            offered[name] = True
        elif result.status == FAIL or not result.offered:
            offered[name] = False
            if result.status == FAIL and result.offered:
                failed.append(result.name)
    return offered, failed


class _CheckHttp(CrmHttp):
    """The product's connector conventions without the org's shared budget (no database)."""

    def _wait_for_budget(self) -> None:
        return None


def discovered(
    base_url: str,
    credentials: dict[str, Any],
    known: dict[str, bool],
    *,
    timeout: float,
    session: requests.Session | None = None,
) -> dict[str, bool]:
    """`known`, and what discovery finds out about every other capability (see the doc)."""
    missing = [n for n in Capabilities.names() if n not in known]
    if not missing:
        return dict(known)
    if credentials.get("username") is not None:
        auth, secret = "basic", {k: credentials.get(k) or "" for k in ("username", "password")}
    elif credentials.get("token"):
        auth, secret = "bearer", {"token": credentials["token"]}
    else:
        return dict(known)  # no credentials the product could use: left unknown
    http = _CheckHttp(
        base_url,
        auth,
        secret,
        rate_key="connector-check",
        policy=RetryPolicy(attempts=2, base_delay=0.2, max_delay=2.0, max_retry_after=5.0),
        timeout=(min(5.0, timeout), timeout),
        session=session,
    )
    discovery = CapabilityDiscovery(http, known)
    out = dict(known)
    for name in missing:
        try:
            out[name] = discovery.supports(name)
        except (ApiError, requests.RequestException) as exc:
            log.info("connector check: %s not found out (%s)", name, exc)
    return out
