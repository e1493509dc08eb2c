"""One run of the conformance check: its test data, the records it made, its report."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, NotOffered, Probe, Skipped, expect, kind, shape
from brightsync.connector.report import FAIL, PASS, REQUIRED, SKIP, CheckReport, CheckResult

# The check that makes the record of each role (a SKIP names it when the record is missing).
_CREATOR = {
    "contact": "contacts.create",
    "contact2": "contacts.create",
    "email": "emails.create",
    "company": "companies.create",
    "event": "events.create",
    "task": "tasks.create",
}


class CheckRun:
    """The state the checks share: what this run created (by role) and what it found out."""

    event_start: datetime  # set by checks.events.event_payload, read by the window check

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.id = uuid.uuid4().hex[:8]
        self.report = CheckReport(probe.base_url, self.id)
        self.domain = f"{self.id}.brightsync-check.example"
        self.started = datetime.now(UTC)
        self.records: dict[str, dict[str, Any]] = {}  # what this run created, by role
        self.me: dict[str, Any] | None = None

    def address(self, tag: str) -> str:
        return f"check-{self.id}-{tag}@{self.domain}"

    def record(self, name: str, check: Callable[[], str]) -> bool:
        """Run one check and add its verdict to the report; True when it passed."""
        required = name in REQUIRED
        try:
            detail = check()
        except NotOffered as exc:
            status, offered = (FAIL, False) if required else (SKIP, False)
            result = CheckResult(name, status, f"not offered: {exc}", required, offered)
        except Skipped as exc:
            result = CheckResult(name, SKIP, str(exc), required)
        except Failed as exc:
            result = CheckResult(name, FAIL, str(exc), required)
        except Exception as exc:  # an answer odd enough to trip the check itself
            result = CheckResult(name, FAIL, f"unexpected answer: {exc!r}"[:300], required)
        else:
            result = CheckResult(name, PASS, detail, required)
        self.report.results.append(result)
        return result.status == PASS

    def created(
        self, resource: str, payload: dict[str, Any], role: str, key: str | None = None
    ) -> dict[str, Any]:
        """POST a test record; it is kept as `role` as soon as it has an id."""
        path = f"{API}/{resource}"
        headers = {"Idempotency-Key": key} if key else None
        reply = expect(
            self.probe.call("POST", path, json_body=payload, headers=headers), what="create"
        )
        body = reply.body
        if body is None and reply.headers.get("Location"):
            body = {**payload, "id": reply.headers["Location"].rstrip("/").rsplit("/", 1)[-1]}
        if not isinstance(body, dict):
            raise Failed(f"POST {path} -> {reply.status} with {kind(body)} instead of the record")
        if body.get("id") in (None, ""):
            raise Failed(f"POST {path} -> {reply.status} but the answer carries no id")
        self.records[role] = body  # it exists even if its shape is wrong
        shape(resource, body, f"POST {path} answer")
        return body

    def need(self, role: str, why: str | None = None) -> dict[str, Any]:
        """The record this run created in `role`, or SKIP saying why there is none."""
        if role in self.records:
            return self.records[role]
        if why is None:
            creator = _CREATOR[role]
            try:
                result = self.report.result(creator)
            except KeyError:
                state = "did not run"
            else:
                state = {PASS: "passed", FAIL: "failed", SKIP: "was skipped"}[result.status]
                state = "is not offered" if not result.offered else state
            why = f"not tried: needs a record made by {creator}, which {state}"
        raise Skipped(why)
