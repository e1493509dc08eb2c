"""Test controls of the reference CRM: request statistics, injected faults and the settings
(latency, task-status picklist), shared by the request handlers of one app."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from flask import request

from brightsync.sandbox.server import checked_latency

#: The longest an injected fault may hold a request (a "never answers" fault ends by then).
MAX_FAULT_DELAY = 120.0


@dataclass
class Fault:
    """An injected failure: the next `count` matching requests get `status` (None: all).

    With `after_write` the request is handled first (a create stores its record) and only
    then is its answer replaced by `status`, or held for `delay` seconds — past the client's
    read timeout, a lost answer — before it is sent.
    """

    path: str
    method: str | None
    status: int | None
    count: int | None
    retry_after: str | None
    delay: float
    message: str | None
    match: str | None = None  # only requests whose query or body contains this text
    after_write: bool = False

    def matches(self) -> bool:
        return (
            (self.count is None or self.count > 0)
            and request.path.startswith(self.path)
            and self.method in (None, request.method)
            and (self.match is None or self.match in request_text())
        )


def request_text() -> str:
    """The decoded query string and body of the current request (for `match` faults)."""
    query = unquote_plus(request.query_string.decode("utf-8", "replace"))
    return query + "\n" + request.get_data(as_text=True)


class Control:
    """Stats, faults and settings shared by the request handlers of one app."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        task_statuses: tuple[str, ...] | None = None,
        *,
        user_calendars: tuple[str, ...] | None = None,
        child_events: bool = False,
    ) -> None:
        self.lock = threading.Lock()
        self.latency_ms = checked_latency(latency_ms)
        self.task_statuses = task_statuses  # the picklist in force (None: any status)
        # The calendar shapes in force (see calendars.py): each user's calendars, children.
        self.user_calendars = user_calendars
        self.child_events = child_events
        self.total = 0
        self.by_operation: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_method: Counter[str] = Counter()
        self.faults: list[Fault] = []

    def count(self, operation: str, method: str = "GET") -> None:
        with self.lock:
            self.total += 1
            self.by_operation[operation] += 1
            self.by_method[method] += 1

    def count_status(self, status: int) -> None:
        with self.lock:
            self.by_status[str(status)] += 1

    def clear_stats(self) -> None:
        with self.lock:
            self.total = 0
            self.by_operation.clear()
            self.by_status.clear()
            self.by_method.clear()

    def stats(self) -> dict[str, Any]:
        """`{total, byOperation: {"contacts.lookup": 2, ...}, byStatus: {"200": 3, ...},
        byMethod: {"GET": 4, "POST": 1}}`."""
        with self.lock:
            return {
                "total": self.total,
                "byOperation": dict(sorted(self.by_operation.items())),
                "byStatus": dict(sorted(self.by_status.items())),
                "byMethod": dict(sorted(self.by_method.items())),
            }

    def take_fault(self) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches():
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self.faults.remove(fault)
                    return fault
        return None
