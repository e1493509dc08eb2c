"""A small client of the simulator's control API, for tests, the demo and benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests


class SandboxControl:
    """`SandboxControl(url)`: every method is one /_control call; answers are parsed JSON."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method,
            f"{self.base_url}/_control{path}",
            json=body,
            params={k: v for k, v in params.items() if v is not None} or None,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise AssertionError(
                f"control {method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    # --- scene --------------------------------------------------------------------------------

    def reset(self) -> None:
        self._call("POST", "/reset")

    def settings(self, **values: Any) -> dict[str, Any]:
        """pageSize, webhookDebounce, webhookAttempts, webhookRetryDelay, handshakeTimeout,
        latencyMs (every /v1 answer held that long)."""
        return self._call("POST", "/settings", values)

    def add_account(
        self, email: str, name: str | None = None, provider: str = "google", **options: Any
    ) -> dict[str, Any]:
        """-> {id, accessToken, email, ...}; options: notReadyStarts, threadIdDelay, retryAfter,
        accessToken."""
        body = {"email": email, "name": name, "provider": provider, **options}
        return self._call("POST", "/accounts", {k: v for k, v in body.items() if v is not None})

    def account(self, account_id: int) -> dict[str, Any]:
        return self._call("GET", f"/accounts/{account_id}")

    def account_settings(self, account_id: int, **options: Any) -> dict[str, Any]:
        return self._call("POST", f"/accounts/{account_id}/settings", options)

    def set_token(self, account_id: int, status: str) -> None:
        self._call("POST", f"/accounts/{account_id}/token", {"status": status})

    def reauthorize(self, account_id: int) -> str:
        """A new access token for the account (the old one revoked) -> the new token."""
        return self._call("POST", f"/accounts/{account_id}/reauthorize", {})["accessToken"]

    def auth(self, **values: Any) -> dict[str, Any]:
        """How the next OAuth sign-ins go: decision (approve|deny|page), email, provider."""
        return self._call("POST", "/auth", values)

    def expire_tokens(self, account_id: int, mode: str = "410") -> None:
        self._call("POST", f"/accounts/{account_id}/expire-tokens", {"mode": mode})

    def mail(self, **message: Any) -> dict[str, Any]:
        """Deliver a message (from, to, cc, bcc, subject, body, ...) -> {internetMessageId,
        copies: {accountId: messageId}}."""
        if "from_" in message:
            message["from"] = message.pop("from_")
        return self._call("POST", "/mail", message)

    def meeting(self, **meeting: Any) -> dict[str, Any]:
        """A meeting (organizer, subject, start, end, meetingInfo, recurrence, responses, ...)
        in every registered invitee's calendar -> {iCalUid, copies: {address: eventId}}."""
        return self._call("POST", "/meetings", meeting)

    def update_meeting(self, ical_uid: str, **changes: Any) -> dict[str, str]:
        """The organizer's edit, carried to every copy -> {address: eventId}."""
        return self._call("PATCH", f"/meetings/{ical_uid}", changes)["copies"]

    def occurrence(self, ical_uid: str, **exception: Any) -> dict[str, str]:
        """A moved (type="modified") or cancelled (type="deleted") occurrence of a series."""
        return self._call("POST", f"/meetings/{ical_uid}/occurrences", exception)["copies"]

    def put_message(self, account_id: int, raw: dict[str, Any]) -> str:
        return self._call("POST", f"/accounts/{account_id}/messages", raw)["id"]

    def delete_message(self, account_id: int, message_id: str) -> None:
        self._call("DELETE", f"/accounts/{account_id}/messages/{message_id}")

    def messages(self, account_id: int) -> list[dict[str, Any]]:
        return self._call("GET", f"/accounts/{account_id}/messages")["records"]

    def create(self, account_id: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """kind: events | contacts | tasks — as if the user did it in the mailbox."""
        return self._call("POST", f"/accounts/{account_id}/{kind}", body)

    def update(
        self, account_id: int, kind: str, record_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return self._call("PATCH", f"/accounts/{account_id}/{kind}/{record_id}", body)

    def delete(self, account_id: int, kind: str, record_id: str) -> None:
        self._call("DELETE", f"/accounts/{account_id}/{kind}/{record_id}")

    def records(self, account_id: int, kind: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/accounts/{account_id}/{kind}")["records"]

    def lifecycle(
        self,
        account_id: int,
        event: str = "error",
        error: str | None = None,
        subscription: int | None = None,
    ) -> list[int]:
        body = {"event": event, "error": error, "subscription": subscription}
        return self._call("POST", f"/accounts/{account_id}/lifecycle", body)["subscriptions"]

    # --- faults -------------------------------------------------------------------------------

    def fault(
        self,
        path_prefix: str,
        *,
        status: int | None = None,
        count: int | None = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        method: str | None = None,
        account_id: int | None = None,
        after_write: bool = False,
        exact: bool = False,
    ) -> dict[str, Any]:
        body = {
            "afterWrite": after_write,
            "exact": exact,
            "pathPrefix": path_prefix,
            "status": status,
            "count": count,
            "retryAfter": retry_after,
            "delay": delay,
            "method": method,
            "accountId": account_id,
        }
        return self._call("POST", "/faults", body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # --- observations -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/stats/reset")

    def count(self, operation: str, account_id: int | None = None) -> int:
        stats = self.stats()
        if account_id is None:
            return stats["byOperation"].get(operation, 0)
        return stats["byAccount"].get(str(account_id), {}).get(operation, 0)

    def requests(self, since: float | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/requests", since=since)["requests"]

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._call("GET", "/subscriptions")["subscriptions"]

    def set_subscription(self, sub_id: int, **state: Any) -> dict[str, Any]:
        return self._call("POST", f"/subscriptions/{sub_id}", state)

    def webhooks(
        self, account_id: int | None = None, subscription: int | None = None
    ) -> list[dict[str, Any]]:
        return self._call("GET", "/webhooks", accountId=account_id, subscription=subscription)[
            "deliveries"
        ]

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        return self._call("POST", "/webhooks/flush", {"timeout": timeout})["idle"]

    def wait_for_webhooks(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 10.0,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Poll the delivery log until `predicate(deliveries)` holds; the log either way."""
        deadline = time.monotonic() + timeout
        while True:
            deliveries = self.webhooks(**filters)
            if predicate(deliveries) or time.monotonic() > deadline:
                return deliveries
            time.sleep(0.02)


class WebhookRecorder:
    """A stand-in webhook receiver (tests, benchmarks): records every request, answers the
    validation handshake. `answer`: "echo" (the token, as Aurinko expects), "wrong" (another
    body) or an HTTP status to answer instead; `status`: the answer to notifications.

        with WebhookRecorder(secret) as hook:    # hook.url is the notificationUrl
            ...
            hook.wait(lambda got: len(got) >= 1)
    """

    def __init__(self, secret: str | None = None, *, answer: str | int = "echo") -> None:
        from flask import Flask, Response, request

        from brightsync import signing
        from brightsync.sandbox.server import ServerThread

        self.secret = secret
        self.answer = answer
        self.status = 200
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = Flask("webhook-recorder")

        @app.post("/hook")
        def hook() -> Any:
            body = request.get_data()
            headers = dict(request.headers)
            entry = {
                "args": request.args.to_dict(),
                "headers": headers,
                "body": body,
                "contentType": request.content_type,
                "json": request.get_json(silent=True),
                "signatureError": signing.verify(
                    self.secret,
                    headers.get("X-Aurinko-Request-Timestamp"),
                    headers.get("X-Aurinko-Signature"),
                    body,
                )
                if self.secret
                else None,
            }
            with self._lock:
                self.received.append(entry)
            token = request.args.get("validationToken")
            if token is not None:
                if self.answer == "echo":
                    return Response(token, status=200, content_type="text/plain")
                if self.answer == "wrong":
                    return Response("not-the-token", status=200, content_type="text/plain")
                return Response("", status=int(self.answer))
            return Response("", status=self.status)

        self._server = ServerThread(app)
        self.url = self._server.url + "/hook"

    def start(self) -> WebhookRecorder:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def validations(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.received if "validationToken" in r["args"]]

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.received if "validationToken" not in r["args"]]

    def wait(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll the notifications until `predicate(notifications)` holds; them either way."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.notifications()
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.02)
