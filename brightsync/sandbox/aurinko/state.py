"""The simulator's core: the one lock, the settings and the shared tables every resource
module works on (accounts.py, mail.py, items.py, delta.py, subscriptions.py,
traffic.py), plus what they all need: provider-looking ids, the collection an account's
service lives in, and storing a change (which notifies the matching subscriptions).

Every operation takes `sim.lock` (re-entrant, so operations compose); the data structures and
the delta model are described in model.py. Webhooks are the one way out: the core hands
changes to its WebhookDispatcher and takes the delivery outcomes back through a callback, so
webhooks.py knows nothing of this module.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from brightsync.sandbox.aurinko.model import (
    Account,
    Cursor,
    Fault,
    Item,
    Stats,
    Subscription,
    SyncSession,
)
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request, not_found
from brightsync.sandbox.aurinko.webhooks import WebhookDispatcher
from brightsync.sandbox.server import MAX_LATENCY_MS, checked_latency

_CALENDAR_RESOURCE = re.compile(r"^/calendars/([^/]+)/events$")
_TASKS_RESOURCE = re.compile(r"^/tasklists/([^/]+)/tasks$")


class AurinkoSimulator:
    def __init__(
        self,
        *,
        signing_secret: str | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        page_size: int = 50,
        webhook_debounce: float = 0.05,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.2,
        handshake_timeout: float = 10.0,
        latency_ms: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.signing_secret = signing_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.webhook_debounce = webhook_debounce
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.handshake_timeout = handshake_timeout
        # Every /v1 answer waits this long, like the real API across the network.
        self.latency_ms = checked_latency(latency_ms)
        self.webhooks = WebhookDispatcher(self, on_result=self.delivery_result)
        self.clear()

    def clear(self) -> None:
        """Empty every table (callers hold the lock, or own the simulator alone)."""
        self.accounts: dict[int, Account] = {}
        self.by_token: dict[str, int] = {}
        # address -> account ids: delivering a message costs its recipients, not every account.
        self.by_email: dict[str, list[int]] = {}
        self.sessions: dict[str, SyncSession] = {}
        self.tokens: dict[str, Cursor] = {}
        # (session, kind, since, generation) -> its delta token: the same point, the same token.
        self.delta_tokens: dict[tuple[str, str, int, int], str] = {}
        self.subscriptions: dict[int, Subscription] = {}
        # The OAuth flow (auth.py): how the next sign-in goes, and codes not exchanged yet.
        self.auth: dict[str, Any] = {"decision": "approve", "email": None, "provider": None}
        self.auth_codes: dict[str, tuple[int, str, float]] = {}
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.requests: deque[dict[str, Any]] = deque(maxlen=10000)
        self.account_ids = itertools.count(1)
        self.subscription_ids = itertools.count(1)
        self.fault_ids = itertools.count(1)
        self.record_ids = itertools.count(1)

    def reset(self) -> None:
        with self.lock:
            self.clear()
        self.webhooks.reset()

    def settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        names = {
            "pageSize": ("page_size", int),
            "webhookDebounce": ("webhook_debounce", float),
            "webhookAttempts": ("webhook_attempts", int),
            "webhookRetryDelay": ("webhook_retry_delay", float),
            "handshakeTimeout": ("handshake_timeout", float),
            "latencyMs": ("latency_ms", checked_latency),
        }
        changes = {}
        for key, value in values.items():
            if key not in names:
                raise bad_request(f"unknown setting {key!r}")
            attr, kind = names[key]
            try:
                changes[attr] = kind(value)
            except (TypeError, ValueError):
                within = f" from 0 to {MAX_LATENCY_MS:g}" if key == "latencyMs" else ""
                raise bad_request(f"{key} must be a number{within}") from None
            if changes[attr] < (1 if key in ("pageSize", "webhookAttempts") else 0):
                raise bad_request(f"{key} is too small")
        with self.lock:
            for attr, value in changes.items():
                setattr(self, attr, value)
            return {key: getattr(self, attr) for key, (attr, _) in names.items()}

    # --- lookups shared by every resource ---------------------------------------------------

    def account(self, account_id: int | str) -> Account:
        try:
            account = self.accounts.get(int(account_id))
        except (TypeError, ValueError):
            account = None
        if account is None:
            raise not_found(f"account {account_id}")
        return account

    def new_id(self, provider: str, kind: str) -> str:
        """A provider-looking id, unique in this simulator (each mailbox copy has its own)."""
        n = next(self.record_ids)
        if provider == "google":
            if kind in ("message", "thread"):
                base = 0x18C2A00000000000 if kind == "message" else 0x18C2B00000000000
                return format(base + n * 977, "x")
            if kind == "calendar":
                return f"c{n}@group.calendar.google.com"
            raw = n.to_bytes(6, "big") + secrets.token_bytes(9)
            return base64.b32encode(raw).decode().lower().rstrip("=")
        if provider == "office365":
            prefix = {"message": "AAMkAGM", "thread": "AAQkAGM", "calendar": "AAMkAGC"}
            raw = n.to_bytes(6, "big") + secrets.token_bytes(12)
            return prefix.get(kind, "AAMkAGE") + base64.urlsafe_b64encode(raw).decode()
        return f"{kind}-{n}"

    def feed_key(self, account: Account, service: str, container: str | None = None) -> str:
        if service == "calendar":
            cal = container or "primary"
            if cal not in ("primary", account.primary_calendar):
                raise not_found(f"calendar {cal}")
            return f"calendar:{account.primary_calendar}"
        if service == "tasks":
            lst = container or "default"
            if lst not in ("default", account.default_task_list):
                raise not_found(f"task list {lst}")
            return f"tasks:{account.default_task_list}"
        return service

    def resource_feed(self, account: Account, resource: str) -> str | None:
        if resource == "/email/messages":
            return "email"
        if resource == "/contacts":
            return "contacts"
        for pattern, service in ((_CALENDAR_RESOURCE, "calendar"), (_TASKS_RESOURCE, "tasks")):
            match = pattern.match(resource)
            if match:
                try:
                    return self.feed_key(account, service, match.group(1))
                except ApiFailure:
                    return None
        return None

    # --- changes out, delivery outcomes in --------------------------------------------------

    def store(self, account: Account, feed_key: str, item: Item, change: str) -> None:
        """Record a change of `item` (lock held): stamp it and notify the subscriptions."""
        feed = account.feeds[feed_key]
        feed.items[item.id] = item
        feed.stamp(item, account.next_seq())
        self._changed(account, feed_key, item, change)

    def _changed(self, account: Account, feed_key: str, item: Item, change: str) -> None:
        draft = "draft" in (item.record.get("sysLabels") or [])
        for sub in self.subscriptions.values():
            if sub.account_id != account.id or not sub.active:
                continue
            if self.resource_feed(account, sub.resource) != feed_key:
                continue
            if draft and "withoutDrafts" in sub.filters:
                continue
            self.webhooks.enqueue(sub, {"id": item.id, "changeType": change})

    def delivery_result(self, sub_id: int, ok: bool, detail: str | None) -> None:
        """A notification's outcome: failures mark the subscription (failSince), success
        clears it."""
        with self.lock:
            sub = self.subscriptions.get(sub_id)
            if sub is None:
                return
            if ok:
                sub.fail_since, sub.fail_description = None, None
            elif sub.fail_since is None:
                sub.fail_since, sub.fail_description = time.time(), detail
            else:
                sub.fail_description = detail
