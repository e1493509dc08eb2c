"""The HTTP layer both API clients share: pooled sessions, timeouts, retries, rate budgets.

Retry policy (both APIs document the same): 408, 429 and 5xx are transient and retried with
jittered exponential backoff, honouring `Retry-After`; connection errors and timeouts too.
Every other 4xx is final for that request and raised with the server's message.

Except for a request that is not safe to repeat (POST: a create). Once it may have reached
the server, a timeout, a dropped connection or a 5xx does not say whether the record was
made: retrying blindly could make it twice. Such an outcome is raised at once as
`MaybeCreated` (a TransientError), and the caller looks before creating again
(`brightsync.sync.creates`). A POST is still retried when the server certainly did not act
on it: connection refused or a connect timeout (nothing was sent), 408 and 429 (refused
before processing).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Answers that say the request was not processed: even a create may be repeated after them.
NOT_PROCESSED_STATUSES = frozenset({408, 429})
# Methods whose repetition may do the work twice. PATCH is left out on purpose: BrightSync's
# PATCHes set fields to absolute values, so repeating one changes nothing more.
NON_IDEMPOTENT_METHODS = frozenset({"POST"})
_UNKNOWN = "outcome unknown (the record may have been created):"

# Told about every attempt: (client, method, HTTP status or None when no answer came). The
# metrics register here; an observer that fails is ignored so it never fails the request.
observers: list[Callable[[HttpClient, str, int | None], None]] = []


def _observe(client: HttpClient, method: str, status: int | None) -> None:
    for observer in observers:
        try:
            observer(client, method, status)
        except Exception:  # noqa: BLE001
            log.debug("request observer failed", exc_info=True)


class ApiError(Exception):
    """A request that did not succeed; `status` is None for connection-level failures."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.body = body
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f"{self.method} {self.url}: " if self.method else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{where}{status}{code}{self.message}"


class TransientError(ApiError):
    """Still failing after the retries: the caller may try again later (`retry_after`)."""

    #: True when the request may have taken effect although no success was seen.
    ambiguous: bool = False


class MaybeCreated(TransientError):
    """A POST whose outcome is unknown (timeout or dropped connection after sending, a 5xx).

    The server may have stored the record. Never repeat the request blindly: look for what
    it may have made first (`brightsync.sync.creates` does).
    """

    ambiguous = True


class FinalError(ApiError):
    """The server refused this request for good (a 4xx other than 408/429)."""


class NotFoundError(FinalError):
    pass


class AuthError(FinalError):
    """401/403: credentials are missing, wrong or dead."""


class PreconditionFailed(FinalError):
    """412: the record changed since the etag sent in If-Match."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is not slept through inside a task: the error goes up
    # with `retry_after` so the task can re-queue itself instead of holding a worker.
    max_retry_after: float = 60.0
    statuses: frozenset[int] = TRANSIENT_STATUSES

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter exponential backoff for the attempt-th retry (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * (0.5 + rng() / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def never_sent(exc: BaseException) -> bool:
    """True when a connection-level failure happened before the request left this process.

    A connect timeout or a refused/unresolvable connection: the server cannot have acted on
    the request. A read timeout, a reset or a dropped connection after sending can hide a
    success.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.Timeout):
        return False
    reason: BaseException | None = exc
    seen = 0
    while reason is not None and seen < 10:
        if isinstance(reason, NewConnectionError | NameResolutionError):
            return True
        nested = reason.args[0] if reason.args else None
        reason = getattr(reason, "reason", None) or (
            nested if isinstance(nested, BaseException) else None
        )
        seen += 1
    return False


_local = threading.local()


def shared_session() -> requests.Session:
    """One pooled session per thread of a process (requests.Session is not thread-safe)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=20, pool_maxsize=20, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


def _error_details(response: requests.Response) -> tuple[str, str | None, Any]:
    try:
        body = response.json()
    except ValueError:
        text = response.text[:500]
        return (text or response.reason or "error"), None, text
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("detail") or str(body)
        return str(message)[:1000], body.get("code"), body
    return str(body)[:500], None, body


@dataclass
class HttpClient:
    """Base URL + auth + policy. Subclasses add the API's own calls."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: tuple[float, float] = (5.0, 30.0)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Called before every attempt, e.g. to wait for a shared per-app rate budget.
    before_request: Callable[[], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session | None = None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def error_for(
        self, response: requests.Response, method: str, url: str, *, final_statuses: bool = False
    ) -> ApiError:
        message, code, body = _error_details(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        kwargs = dict(
            status=response.status_code,
            code=code,
            retry_after=retry_after,
            body=body,
            method=method,
            url=url,
        )
        status = response.status_code
        if status in self.policy.statuses and not final_statuses:
            return TransientError(message, **kwargs)
        if status == 404:
            return NotFoundError(message, **kwargs)
        if status in (401, 403):
            return AuthError(message, **kwargs)
        if status == 412:
            return PreconditionFailed(message, **kwargs)
        return FinalError(message, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | str | IO[bytes] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send with retries; return the 2xx response or raise an ApiError subclass.

        A POST is repeated only when the server surely did not act on it; otherwise its
        unknown outcome is raised as `MaybeCreated` (see the module doc). `idempotent=True`
        marks a POST that is safe to repeat (e.g. "start a sync"): it is retried like a GET.
        `data` may be a seekable file (a large body sent from disk, not memory): every
        attempt sends it from its start. `stream=True` leaves a 2xx body unread for the
        caller (`iter_content`, then `close`).
        """
        url = self.url(path)
        if idempotent is None:
            idempotent = method.upper() not in NON_IDEMPOTENT_METHODS
        once = not idempotent
        session = self.session or shared_session()
        merged = {**self.headers, **(headers or {})}
        last: ApiError | None = None
        for attempt in range(1, self.policy.attempts + 1):
            if self.before_request is not None:
                self.before_request()
            if hasattr(data, "seek"):
                data.seek(0)  # type: ignore[union-attr]
            try:
                response = session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=merged,
                    auth=self.auth,
                    timeout=self.timeout,
                    stream=stream,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                _observe(self, method, None)
                message = f"{type(exc).__name__}: {exc}"
                if once and not never_sent(exc):
                    raise MaybeCreated(f"{_UNKNOWN} {message}", method=method, url=url) from exc
                last = TransientError(message, method=method, url=url)
                delay = self.policy.backoff(attempt)
            else:
                _observe(self, method, response.status_code)
                if response.ok:
                    return response
                error = self.error_for(response, method, url)
                if not isinstance(error, TransientError):
                    raise error
                if once and error.status not in NOT_PROCESSED_STATUSES:
                    raise MaybeCreated(
                        f"{_UNKNOWN} {error.message}",
                        status=error.status,
                        code=error.code,
                        retry_after=error.retry_after,
                        body=error.body,
                        method=method,
                        url=url,
                    )
                last = error
                if error.retry_after is not None:
                    if error.retry_after > self.policy.max_retry_after:
                        raise error
                    delay = error.retry_after
                else:
                    delay = self.policy.backoff(attempt)
            if attempt < self.policy.attempts:
                log.info("retrying %s %s in %.2fs after %s", method, url, delay, last)
                self.sleep(delay)
        assert last is not None
        raise last

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()
