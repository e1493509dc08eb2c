"""Outbound webhooks of the simulator: the validation handshake and change notifications.

Changes are collected per subscription for a short debounce so that a burst becomes one
notification, then POSTed (signed when the app has a signing secret) from background
threads, retried a few times on failure. Every attempt is recorded in the delivery log.

The dispatcher knows the simulator only as its settings (read at each use, so
/_control/settings applies at once) and a callback that takes each delivery's outcome;
the simulator owns the dispatcher, never the other way round.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from brightsync.sandbox.aurinko.model import Subscription
from brightsync.sandbox.aurinko.records import iso
from brightsync.signing import signed_headers

log = logging.getLogger(__name__)

WORKERS = 4

# (subscription id, delivered, failure detail): how a notification ended.
DeliveryOutcome = Callable[[int, bool, str | None], None]


class WebhookSettings(Protocol):
    """The simulator's settings the dispatcher reads (AurinkoSimulator has them all)."""

    signing_secret: str | None
    webhook_debounce: float
    webhook_attempts: int
    webhook_retry_delay: float
    handshake_timeout: float


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + f"{name}={value}"
    return urlunsplit(parts._replace(query=query))


class WebhookDispatcher:
    def __init__(self, settings: WebhookSettings, *, on_result: DeliveryOutcome) -> None:
        self.settings = settings
        self.on_result = on_result
        self.cond = threading.Condition()
        # subscription id -> {"sub": {...}, "payloads": [...], "first": monotonic time}
        self.pending: dict[int, dict[str, Any]] = {}
        self.inflight = 0
        self.deliveries: list[dict[str, Any]] = []
        self.generation = 0
        self._ids = itertools.count(1)
        self._queue: queue.Queue[tuple[str, dict[str, Any], dict[str, Any], int] | None] = (
            queue.Queue()
        )
        self._threads: list[threading.Thread] = []
        self._closed = False

    # --- intake (called with the simulator's lock held: never take it from here) -----------

    def enqueue(self, sub: Subscription, payload: dict[str, Any]) -> None:
        with self.cond:
            self._start()
            batch = self.pending.get(sub.id)
            if batch is None:
                batch = self.pending[sub.id] = {
                    "sub": _snapshot(sub),
                    "payloads": [],
                    "first": time.monotonic(),
                }
            if payload not in batch["payloads"]:
                batch["payloads"].append(payload)
            self.cond.notify_all()

    def send(self, sub: Subscription, body: dict[str, Any], *, kind: str) -> None:
        """Send one notification now (lifecycle events), without debounce."""
        with self.cond:
            self._start()
            self.inflight += 1
            self._queue.put((kind, _snapshot(sub), body, self.generation))

    # --- the handshake (synchronous: the subscription create waits for it) ------------------

    def handshake(self, url: str, *, account_id: int) -> tuple[bool, str]:
        token = secrets.token_urlsafe(24)
        target = _with_query(url, "validationToken", token)
        entry = self._log_entry("validation", None, account_id, target, {"validationToken": token})
        status, text, error = self._post(target, b"", "text/plain", self.settings.handshake_timeout)
        self._attempt(entry, status, error)
        if error is not None:
            detail = f"validation request failed: {error}"
        elif status != 200:
            detail = f"validation answered {status}, expected 200"
        elif (text or "").strip() != token:
            detail = "validation answer is not the validationToken"
        else:
            self._finish(entry, True)
            return True, "ok"
        self._finish(entry, False)
        return False, detail

    # --- control ----------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending or being delivered; False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.pending and self.inflight == 0, timeout)

    def log(
        self, account_id: int | None = None, subscription: int | None = None
    ) -> list[dict[str, Any]]:
        with self.cond:
            return [
                json.loads(json.dumps(d))
                for d in self.deliveries
                if (account_id is None or d["accountId"] == account_id)
                and (subscription is None or d["subscription"] == subscription)
            ]

    def reset(self) -> None:
        with self.cond:
            self.generation += 1
            self.pending.clear()
            self.deliveries.clear()
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self.cond.notify_all()
        for _ in self._threads:
            self._queue.put(None)

    # --- machinery --------------------------------------------------------------------------

    def _start(self) -> None:
        if self._threads or self._closed:
            return
        threads = [threading.Thread(target=self._scheduler, name="aurinko-webhooks", daemon=True)]
        threads += [
            threading.Thread(target=self._worker, name=f"aurinko-webhook-{i}", daemon=True)
            for i in range(WORKERS)
        ]
        self._threads = threads
        for thread in threads:
            thread.start()

    def _scheduler(self) -> None:
        while True:
            with self.cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    debounce = self.settings.webhook_debounce
                    due = [sid for sid, b in self.pending.items() if now - b["first"] >= debounce]
                    if due:
                        break
                    wait = None
                    if self.pending:
                        first = min(b["first"] for b in self.pending.values())
                        wait = max(0.001, first + debounce - now)
                    self.cond.wait(wait)
                for sid in due:
                    batch = self.pending.pop(sid)
                    sub = batch["sub"]
                    body = {
                        "subscription": sub["id"],
                        "resource": sub["resource"],
                        "accountId": sub["accountId"],
                        "payloads": batch["payloads"],
                    }
                    self.inflight += 1
                    self._queue.put(("notification", sub, body, self.generation))

    def _worker(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            kind, sub, body, generation = job
            try:
                self._deliver(kind, sub, body, generation)
            except Exception:  # a delivery must never kill the worker
                log.exception("webhook delivery crashed")
            finally:
                with self.cond:
                    self.inflight -= 1
                    self.cond.notify_all()

    def _deliver(self, kind: str, sub: dict[str, Any], body: dict[str, Any], gen: int) -> None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        entry = self._log_entry(kind, sub["id"], sub["accountId"], sub["url"], body, gen)
        attempts = max(1, self.settings.webhook_attempts)
        detail = None
        for attempt in range(1, attempts + 1):
            status, _, error = self._post(sub["url"], raw, "application/json", 10.0)
            self._attempt(entry, status, error)
            if status is not None and 200 <= status < 300:
                self._finish(entry, True)
                if gen == self.generation:
                    self.on_result(sub["id"], True, None)
                return
            detail = error or f"notification answered {status}"
            if attempt < attempts:
                time.sleep(self.settings.webhook_retry_delay * attempt)
        self._finish(entry, False)
        if gen == self.generation:
            self.on_result(sub["id"], False, detail)

    def _post(
        self, url: str, body: bytes, content_type: str, timeout: float
    ) -> tuple[int | None, str | None, str | None]:
        headers = {"Content-Type": content_type, "User-Agent": "Aurinko-Sandbox/1.0"}
        if self.settings.signing_secret:
            headers.update(signed_headers(self.settings.signing_secret, body))
        try:
            response = requests.post(url, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            return None, None, f"{type(exc).__name__}: {exc}"
        return response.status_code, response.text, None

    def _log_entry(
        self,
        kind: str,
        sub_id: int | None,
        account_id: int,
        url: str,
        body: Any,
        gen: int | None = None,
    ) -> dict[str, Any]:
        entry = {
            "id": next(self._ids),
            "kind": kind,
            "subscription": sub_id,
            "accountId": account_id,
            "url": url,
            "body": body,
            "signed": bool(self.settings.signing_secret),
            "attempts": [],
            "ok": None,
            "createdAt": iso(time.time()),
        }
        with self.cond:
            if gen is None or gen == self.generation:
                self.deliveries.append(entry)
        return entry

    def _attempt(self, entry: dict[str, Any], status: int | None, error: str | None) -> None:
        with self.cond:
            entry["attempts"].append({"at": iso(time.time()), "status": status, "error": error})

    def _finish(self, entry: dict[str, Any], ok: bool) -> None:
        with self.cond:
            entry["ok"] = ok
            self.cond.notify_all()


def _snapshot(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "accountId": sub.account_id,
        "resource": sub.resource,
        "url": sub.notification_url,
    }
