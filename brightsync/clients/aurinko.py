"""Aurinko's unified mailbox API: delta sync, messages, events, contacts, tasks, webhooks.

    client = AurinkoClient.for_account(settings.aurinko_api_url, access_token,
                                       app_key=settings.aurinko_client_id or "default")
    tokens = client.start_sync("email", days_within=30)
    for page in client.delta_pages("email", "updated", tokens.updated_token):
        handle(page.records)                  # durably
        if page.next_delta_token:
            store(page.next_delta_token)      # only after the page was handled

Every request first takes one unit of the app's shared per-second budget (Redis or the
database, see brightsync.coordination), so all workers together stay under Aurinko's
documented 250 requests per second per app. 408, 429 and 5xx are retried by HttpClient
(Retry-After honoured); a dead account token raises TokenDeadError, a dead sync token
SyncTokenExpired (start the sync again), 404 NotFoundError, a stale etag PreconditionFailed.
Access tokens and client secrets are never logged nor shown in repr().
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import requests

from brightsync.clients.aurinko_records import AurinkoRecords, segment
from brightsync.clients.http import (
    ApiError,
    AuthError,
    FinalError,
    TransientError,
)
from brightsync.coordination import wait_for_budget

log = logging.getLogger(__name__)

Service = Literal["email", "calendar", "contacts", "tasks"]
DeltaKind = Literal["updated", "deleted"]

# The webhook resource BrightSync subscribes to for each service.
SERVICE_RESOURCES: dict[str, str] = {
    "email": "/email/messages",
    "calendar": "/calendars/primary/events",
    "contacts": "/contacts",
    "tasks": "/tasklists/default/tasks",
}

_RESOURCE_PATTERNS = (
    (re.compile(r"^/email/messages$"), "email"),
    (re.compile(r"^/calendars/[^/]+/events$"), "calendar"),
    (re.compile(r"^/contacts$"), "contacts"),
    (re.compile(r"^/tasklists/[^/]+/tasks$"), "tasks"),
)

TOKEN_DEAD_CODES = frozenset({"token.dead", "token.refresh.failed"})
DEFAULT_PAST_DAYS = 30
DEFAULT_FUTURE_DAYS = 180


def service_for_resource(resource: str | None) -> str | None:
    """The service a webhook resource belongs to; None for /email/tracking and the unknown."""
    if not resource:
        return None
    path = resource.strip().split("?", 1)[0].rstrip("/")
    if path.startswith("/v1/"):
        path = path[3:]
    if not path.startswith("/"):
        path = "/" + path
    for pattern, service in _RESOURCE_PATTERNS:
        if pattern.match(path):
            return service
    return None


class TokenDeadError(AuthError):
    """401 token.dead / token.refresh.failed: the user must authorise the account again."""


class SyncTokenExpired(FinalError):
    """410, or 400 token.notValid, on a delta call: drop the tokens and start the sync again."""


@dataclass(frozen=True)
class SyncTokens:
    updated_token: str
    deleted_token: str


@dataclass
class DeltaPage:
    records: list[dict[str, Any]]
    next_page_token: str | None
    next_delta_token: str | None


def _rfc3339(value: datetime | date | str) -> str:
    """RFC 3339 with a mandatory offset (Aurinko refuses naive times); naive means UTC."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _as(cls: type[ApiError], error: ApiError) -> ApiError:
    return cls(
        error.message,
        status=error.status,
        code=error.code,
        retry_after=error.retry_after,
        body=error.body,
        method=error.method,
        url=error.url,
    )


@dataclass(repr=False)
class AurinkoClient(AurinkoRecords):
    app_key: str = "default"
    rate_limit: int = 250
    account_id: str | None = field(default=None)

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def for_account(
        cls,
        base_url: str,
        access_token: str,
        *,
        app_key: str = "default",
        rate_limit: int = 250,
        **options: Any,
    ) -> AurinkoClient:
        """Act as one account (Bearer access token). `options`: timeout, policy, session,
        sleep, before_request — for tests and special callers."""
        return cls._build(
            base_url,
            {"Authorization": f"Bearer {access_token}"},
            None,
            app_key=app_key,
            rate_limit=rate_limit,
            options=options,
        )

    @classmethod
    def for_app(
        cls,
        base_url: str,
        client_id: str,
        client_secret: str,
        account_id: int | str | None = None,
        *,
        rate_limit: int = 250,
        **options: Any,
    ) -> AurinkoClient:
        """App credentials (Basic); with `account_id` act on that account."""
        headers = {}
        if account_id is not None:
            headers["X-Aurinko-Account-Id"] = str(account_id)
        client = cls._build(
            base_url,
            headers,
            (client_id, client_secret),
            app_key=client_id,
            rate_limit=rate_limit,
            options=options,
        )
        client.account_id = None if account_id is None else str(account_id)
        return client

    @classmethod
    def _build(
        cls,
        base_url: str,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
        *,
        app_key: str,
        rate_limit: int,
        options: dict[str, Any],
    ) -> AurinkoClient:
        base = base_url.rstrip("/")
        if base.endswith("/v1"):  # tolerate a configured ".../v1"
            base = base[:-3]
        key = f"aurinko:{app_key}"

        def take_budget() -> None:
            try:
                wait_for_budget(key, rate_limit)
            except TimeoutError as exc:
                raise TransientError(str(exc), retry_after=1.0) from None

        options.setdefault("before_request", take_budget)
        return cls(
            base_url=base,
            headers={"Accept": "application/json", "User-Agent": "BrightSync", **headers},
            auth=auth,
            app_key=app_key,
            rate_limit=rate_limit,
            **options,
        )

    def __repr__(self) -> str:  # never show credentials
        how = "app" if self.auth else "account"
        return f"AurinkoClient({self.base_url!r}, {how}, app_key={self.app_key!r})"

    # --- errors -----------------------------------------------------------------------------

    def error_for(
        self, response: requests.Response, method: str, url: str, *, final_statuses: bool = False
    ) -> ApiError:
        error = super().error_for(response, method, url, final_statuses=final_statuses)
        status, code = response.status_code, error.code
        if status == 401 and code in TOKEN_DEAD_CODES:
            return _as(TokenDeadError, error)
        on_sync = "/sync/" in url
        if on_sync and (status == 410 or (status == 400 and code == "token.notValid")):
            return _as(SyncTokenExpired, error)
        if code == "syncToken.expired":
            return _as(SyncTokenExpired, error)
        return error

    # --- account ----------------------------------------------------------------------------

    def get_account(self) -> dict[str, Any]:
        """GET /v1/account: id, email, serviceType, tokenStatus (active|invalid|dead), ..."""
        return self._json("GET", "/v1/account")

    # --- delta sync -------------------------------------------------------------------------

    @staticmethod
    def _sync_path(service: str, calendar_id: str, task_list_id: str) -> str:
        if service == "email":
            return "/v1/email/sync"
        if service == "calendar":
            return f"/v1/calendars/{segment(calendar_id)}/sync"
        if service == "contacts":
            return "/v1/contacts/sync"
        if service == "tasks":
            return f"/v1/tasklists/{segment(task_list_id)}/sync"
        raise ValueError(f"unknown service {service!r}")

    def start_sync(
        self,
        service: Service | str,
        *,
        calendar_id: str = "primary",
        task_list_id: str = "default",
        days_within: int | None = None,
        body_type: str | None = None,
        time_min: datetime | date | str | None = None,
        time_max: datetime | date | str | None = None,
        skip_completed_before: datetime | date | str | None = None,
        max_polls: int = 10,
        poll_delay: float = 1.0,
    ) -> SyncTokens:
        """Start (or restart) a delta sync and return its first tokens.

        Calendar windows default to the last 30 and the next 180 days (the API requires both
        bounds). While Aurinko answers `ready: false` the call is repeated after `poll_delay`
        seconds, at most `max_polls` times in all; then TransientError (try again later).
        """
        path = self._sync_path(service, calendar_id, task_list_id)
        params: dict[str, Any] = {}
        if service == "email":
            if days_within is not None:
                params["daysWithin"] = int(days_within)
            if body_type is not None:
                params["bodyType"] = body_type
        elif service == "calendar":
            now = datetime.now(UTC).replace(microsecond=0)
            params["timeMin"] = _rfc3339(time_min or now - timedelta(days=DEFAULT_PAST_DAYS))
            params["timeMax"] = _rfc3339(time_max or now + timedelta(days=DEFAULT_FUTURE_DAYS))
        elif service == "tasks" and skip_completed_before is not None:
            params["skipCompletedBeforeDate"] = _rfc3339(skip_completed_before)
        polls = max(1, max_polls)
        for poll in range(1, polls + 1):
            # Starting a sync again is harmless: retried like a read.
            status = self._json("POST", path, params=params, idempotent=True) or {}
            updated, deleted = status.get("syncUpdatedToken"), status.get("syncDeletedToken")
            if status.get("ready") and updated and deleted:
                return SyncTokens(updated_token=updated, deleted_token=deleted)
            if poll < polls:
                log.debug("%s sync not ready yet (poll %d/%d)", service, poll, polls)
                self.sleep(poll_delay)
        raise TransientError(
            f"{service} sync was not ready after {polls} polls",
            retry_after=poll_delay,
            method="POST",
            url=self.url(path),
        )

    def delta_pages(
        self,
        service: Service | str,
        kind: DeltaKind | str,
        delta_token: str,
        *,
        calendar_id: str = "primary",
        task_list_id: str = "default",
        page_token: str | None = None,
    ) -> Iterator[DeltaPage]:
        """The pages of one delta run, fetched lazily, following nextPageToken.

        `next_delta_token` is set on the last page only: store it once that page has been
        handled. SyncTokenExpired (on any page) means: start the sync again. `page_token` (a
        `next_page_token` saved by an interrupted run) resumes that run at its next page.
        """
        if kind not in ("updated", "deleted"):
            raise ValueError("kind must be 'updated' or 'deleted'")
        path = f"{self._sync_path(service, calendar_id, task_list_id)}/{kind}"
        params = {"pageToken": page_token} if page_token else {"deltaToken": delta_token}
        seen: set[str] = set()
        while True:
            data = self._json("GET", path, params=params) or {}
            next_page = data.get("nextPageToken") or None
            page = DeltaPage(
                records=list(data.get("records") or []),
                next_page_token=next_page,
                # Only the last page's token may be stored: never hand one out mid-run.
                next_delta_token=None if next_page else data.get("nextDeltaToken") or None,
            )
            yield page
            if page.next_page_token is None:
                return
            if page.next_page_token in seen:  # a server bug must not become an endless loop
                raise FinalError(
                    "the same nextPageToken came back twice", method="GET", url=self.url(path)
                )
            seen.add(page.next_page_token)
            params = {"pageToken": page.next_page_token}

    # --- messages ---------------------------------------------------------------------------

    def get_message(self, message_id: str, body_type: str = "html") -> dict[str, Any]:
        """The full message (with body). 408 "thread id not known yet" is retried."""
        return self._json(
            "GET", f"/v1/email/messages/{segment(message_id)}", params={"bodyType": body_type}
        )

    # --- subscriptions ----------------------------------------------------------------------

    def create_subscription(
        self, resource: str, notification_url: str, filters: list[str] | None = None
    ) -> dict[str, Any]:
        """Aurinko verifies `notification_url` first (validationToken handshake); a failed
        verification answers 400 (FinalError)."""
        body: dict[str, Any] = {"resource": resource, "notificationUrl": notification_url}
        if filters:
            body["filters"] = list(filters)
        return self._json("POST", "/v1/subscriptions", json=body)

    def list_subscriptions(self, *, page_size: int = 50) -> list[dict[str, Any]]:
        subs: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = (
                self._json(
                    "GET", "/v1/subscriptions", params={"limit": page_size, "offset": offset}
                )
                or {}
            )
            records = page.get("records") or []
            subs.extend(records)
            offset += len(records)
            total = page.get("totalSize")
            if not records or page.get("done") or (total is not None and offset >= total):
                return subs

    def get_subscription(self, subscription_id: int | str) -> dict[str, Any]:
        return self._json("GET", f"/v1/subscriptions/{segment(subscription_id)}")

    def delete_subscription(self, subscription_id: int | str) -> None:
        self.request("DELETE", f"/v1/subscriptions/{segment(subscription_id)}")
