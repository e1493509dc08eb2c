"""The simulator's data: records with their change stamps, accounts, sync sessions and
cursors, subscriptions, faults, statistics. Plain data; AurinkoSimulator (state.py) owns the
lock and every change.

Delta sync model: each account has one sequence counter; every change of a record stamps it
with the next number and appends (seq, id) to its collection's log (a Feed). A delta token
names a sync session (what the start call fixed: window, body type) and the sequence number
it has seen up to; a page token additionally pins the upper bound of the run and the last
sequence number returned. So a record changed twice shows up once (its latest version), a
record that changes while pages are being read moves past the run's upper bound and comes
with the next run, and nothing is lost.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from brightsync.sandbox.aurinko import records as R

SERVICES = ("email", "calendar", "contacts", "tasks")


@dataclass
class Item:
    id: str
    record: dict[str, Any]
    seq: int
    created: float
    version: int = 1
    deleted: bool = False
    deleted_at: float = 0.0
    # messages: body, bodyType, raw, timeouts served; not part of the record
    meta: dict[str, Any] = field(default_factory=dict)


class Feed:
    """One collection of an account (its mail, one calendar, its contacts, one task list)."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._seqs: list[int] = []
        self._ids: list[str] = []

    def stamp(self, item: Item, seq: int) -> None:
        item.seq = seq
        self._seqs.append(seq)
        self._ids.append(item.id)

    def scan(self, after: int, upto: int) -> Iterator[Item]:
        """Records whose latest change has after < seq <= upto, oldest change first."""
        i = bisect.bisect_right(self._seqs, after)
        while i < len(self._seqs) and self._seqs[i] <= upto:
            item = self.items.get(self._ids[i])
            if item is not None and item.seq == self._seqs[i]:
                yield item
            i += 1

    def live(self) -> list[Item]:
        return [i for i in self.items.values() if not i.deleted]


@dataclass
class Account:
    id: int
    email: str
    name: str
    provider: str
    access_token: str
    created: float
    primary_calendar: str
    default_task_list: str
    token_status: str = "active"
    generation: int = 0  # bumped by expire-tokens: every older sync token is dead
    expire_mode: str = "410"
    seq: int = 0
    not_ready: dict[str, int] = field(default_factory=dict)
    thread_id_delay: int = 0  # 408 answers per message before its thread id is "known"
    retry_after: int = 1
    feeds: dict[str, Feed] = field(default_factory=lambda: defaultdict(Feed))
    threads: dict[str, str] = field(default_factory=dict)  # Message-ID -> provider thread id

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class SyncSession:
    id: str
    account_id: int
    service: str
    feed_key: str
    started: float
    days_within: int | None = None
    body_type: str = "html"
    time_min: float | None = None
    time_max: float | None = None
    skip_completed_before: float | None = None

    def includes(self, item: Item) -> bool:
        rec = item.record
        if self.service == "email" and self.days_within is not None:
            when = R.parse_time(rec.get("receivedAt")) or R.parse_time(rec.get("sentAt"))
            return (when if when is not None else item.created) >= (
                self.started - self.days_within * 86400
            )
        if self.service == "calendar":
            start, end = R.event_bounds(rec)
            if rec.get("recurrenceType") == "master":  # its occurrences may reach the window
                end = R.series_end(rec, end)
            return (self.time_min is None or end > self.time_min) and (
                self.time_max is None or start < self.time_max
            )
        if self.service == "tasks" and self.skip_completed_before is not None:
            if rec.get("status") == "completed":
                done = R.parse_time(rec.get("completed"))
                return done is None or done >= self.skip_completed_before
        return True


@dataclass(frozen=True)
class Cursor:
    session_id: str
    kind: str  # updated | deleted
    page: bool  # a pageToken (True) or a deltaToken
    since: int
    upto: int | None  # None for delta tokens: the run's bound is fixed by its first call
    after: int
    generation: int


@dataclass
class Subscription:
    id: int
    account_id: int
    resource: str
    notification_url: str
    filters: list[str]
    active: bool = True
    fail_since: float | None = None
    fail_description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "resource": self.resource,
            "notificationUrl": self.notification_url,
            "active": self.active,
            "disabledByBilling": False,
        }
        if self.filters:
            out["filters"] = list(self.filters)
        if self.fail_since is not None:
            out["failSince"] = R.iso(self.fail_since)
            out["failDescription"] = self.fail_description or "delivery failed"
        return out


@dataclass
class Fault:
    id: int
    path_prefix: str = "/v1/"
    method: str | None = None
    status: int | None = None
    count: int | None = 1  # None: until removed
    retry_after: float | None = None
    delay: float = 0.0
    account_id: int | None = None
    code: str | None = None
    message: str | None = None
    served: int = 0
    # Handle the request first (a create is stored), then spoil its answer: `status`, or
    # held for `delay` seconds (past the client's read timeout: no answer at all).
    after_write: bool = False
    exact: bool = False  # the path must equal `path_prefix` (POST /v1/contacts, not /sync)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pathPrefix": self.path_prefix,
            "method": self.method,
            "status": self.status,
            "count": self.count,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "accountId": self.account_id,
            "served": self.served,
            "afterWrite": self.after_write,
            "exact": self.exact,
        }


DEFAULT_CODES = {
    408: "timeout",
    429: "tooManyRequests",
    500: "internalError",
    502: "badGateway",
    503: "serviceUnavailable",
    504: "gatewayTimeout",
}


class Stats:
    def __init__(self) -> None:
        self.total = 0
        self.by_operation: Counter[str] = Counter()
        self.by_account: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_second: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.attachment_bytes = 0  # decoded bytes served by the attachment endpoint

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "attachmentBytes": self.attachment_bytes,
            "byOperation": dict(self.by_operation),
            "byAccount": {k: dict(v) for k, v in self.by_account.items()},
            "bySecond": dict(sorted(self.by_second.items())),
            "byStatus": dict(self.by_status),
        }


def etag_of(item_id: str, version: int) -> str:
    return hashlib.sha1(f"{item_id}:{version}".encode()).hexdigest()[:20]


def norm_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
