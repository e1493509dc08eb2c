"""How the conformance check asks a connector and judges an answer.

`Probe` sends one request the way a plain HTTP client would (no retries beyond a short wait
on 429, or 503 when the request was not a create) and hands back every answer, good or bad,
as a `Reply`: the checks must see raw statuses, answers to unauthenticated requests and
bodies that break the contract, which the product's client would turn into exceptions. The
helpers below turn a reply into a verdict (`Failed`, `NotOffered`, `Skipped`) or validate a
record against the contract's schemas.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from marshmallow import Schema

from brightsync.connector.contract import API
from brightsync.connector.schemas import SCHEMAS
from brightsync.connector.validation import record_problems


@dataclass
class Reply:
    method: str
    path: str
    status: int | None  # None: no answer (connection error, timeout)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive from requests
    error: str = ""
    raw: bytes = b""  # the body as sent (a file download is not JSON)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def absent(self) -> bool:
        """The answer of a route or method that is not there."""
        return self.status in (404, 405, 501)

    def describe(self) -> str:
        if self.status is None:
            return f"{self.method} {self.path}: no answer ({self.error})"
        message = ""
        if isinstance(self.body, dict):
            message = str(self.body.get("message") or self.body.get("error") or "")
        elif self.error:
            message = self.error
        return f"{self.method} {self.path} -> {self.status}" + (
            f" {message}"[:160] if message else ""
        )


class Failed(Exception):
    """A check's verdict: FAIL with this reason."""


class NotOffered(Exception):
    """A check's verdict: SKIP, the connector does not offer the operation."""


class Skipped(Exception):
    """A check's verdict: SKIP, it could not be tried (a prerequisite is missing)."""


def items(reply: Reply) -> list[Any]:
    """The records of a list answer: a plain array or a page `{records, nextPageToken}`."""
    if isinstance(reply.body, list):
        return reply.body
    if isinstance(reply.body, dict):
        for key in ("records", "items", "data", "results"):
            if isinstance(reply.body.get(key), list):
                return reply.body[key]
    raise Failed(f"{reply.method} {reply.path}: expected a JSON array, got {kind(reply.body)}")


def kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def ids(records: list[Any]) -> list[str]:
    return [str(r.get("id")) if isinstance(r, dict) else str(r) for r in records]


def when(value: Any) -> datetime | None:
    """An instant with an offset, or None (a naive or unreadable one is no instant here)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def expect(reply: Reply, *, what: str) -> Reply:
    """A 2xx answer, or the verdict: not offered (404/405/501) or failed."""
    if reply.ok:
        return reply
    if reply.absent:
        raise NotOffered(reply.describe())
    raise Failed(f"{what}: {reply.describe()}")


def shape(resource: str | type[Schema], record: Any, where: str) -> None:
    """FAIL unless the record fits the contract's schema of `resource`."""
    schema = SCHEMAS[resource] if isinstance(resource, str) else resource
    problems = record_problems(schema, record)
    if problems:
        raise Failed(f"{where}: " + "; ".join(problems[:4]))


def record_path(resource: str, record: dict[str, Any]) -> str:
    return f"{API}/{resource}/{quote(str(record['id']), safe='')}"


class Probe:
    """Requests to the connector under test, with the credentials given (or without)."""

    def __init__(
        self,
        base_url: str,
        auth: dict[str, str],
        timeout: float,
        session: requests.Session | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "BrightSync-connector-check"}
        self.basic: tuple[str, str] | None = None
        if auth.get("token"):
            self.headers["Authorization"] = f"Bearer {auth['token']}"
        elif auth.get("username") is not None:
            self.basic = (auth["username"], auth.get("password") or "")

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        files: dict[str, Any] | None = None,
    ) -> Reply:
        send = dict(self.headers) if auth else {"Accept": "application/json"}
        send.update(headers or {})
        for attempt in range(3):
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json_body,
                    files=files,
                    headers=send,
                    auth=self.basic if auth else None,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                return Reply(method, path, None, error=f"{type(exc).__name__}: {exc}"[:300])
            retry_after = response.headers.get("Retry-After", "")
            # A create answered 503 may have been made: only a 429 is surely not processed.
            again = (429,) if method == "POST" else (429, 503)
            if response.status_code in again and attempt < 2:
                time.sleep(min(5.0, float(retry_after)) if retry_after.isdigit() else 1.0)
                continue
            break
        body: Any = None
        error = ""
        if response.content:
            try:
                body = response.json()
            except ValueError:
                error = f"not JSON: {response.text[:80]!r}"
        return Reply(
            method, path, response.status_code, body, response.headers, error, response.content
        )

    def get_list(self, path: str, params: dict[str, Any], what: str) -> list[Any]:
        reply = expect(self.call("GET", path, params=params), what=what)
        return items(reply)

    def follow(self, path: str, params: dict[str, Any], what: str) -> list[Any]:
        """Every record of a list, whichever paging style (bounded)."""
        out: list[Any] = []
        query = dict(params)
        for _ in range(50):
            reply = expect(self.call("GET", path, params=query), what=what)
            out += items(reply)
            token = reply.body.get("nextPageToken") if isinstance(reply.body, dict) else None
            if not token:
                return out
            query = {**params, "pageToken": token}
        raise Failed(f"{what}: more than 50 pages")

    def allows(self, path: str, method: str) -> bool | None:
        """What OPTIONS/Allow says about `method` on `path`; None when it says nothing."""
        reply = self.call("OPTIONS", path)
        if reply.ok and "Allow" in reply.headers:
            return method in {m.strip().upper() for m in reply.headers["Allow"].split(",")}
        return None
