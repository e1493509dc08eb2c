"""The conformance check's verdicts and report: PASS / FAIL / SKIP per capability, as text or
JSON, ending with what the connector gets you per domain (`crm.reach`). Only the required
capabilities decide the exit code."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from brightsync.crm.reach import DomainReach, reach_lines

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# The contract requires POST /emails and the contacts lookup (which must ignore case).
# A connector that answers without credentials exposes a tenant's CRM to anyone: as
# disqualifying as one that cannot log an email.
REQUIRED = frozenset({"auth", "emails.create", "contacts.lookup", "contacts.lookup.case"})
IDEMPOTENCY = "creates.idempotency-key"


@dataclass
class CheckResult:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str
    required: bool = False
    offered: bool = True  # False: SKIP because the connector does not offer it

    @property
    def label(self) -> str:
        if self.required:
            return f"{self.name} (required)"
        return f"{self.name} (optional)" if self.status == FAIL else self.name


@dataclass
class CheckReport:
    base_url: str
    run: str
    results: list[CheckResult] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    # What each domain gets from this connector, and the checks that failed (their
    # capabilities count as not offered there).
    reach: tuple[DomainReach, ...] = ()
    broken: list[str] = field(default_factory=list)

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def failed_required(self) -> list[CheckResult]:
        return [r for r in self.results if r.required and r.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed_required

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "run": self.run,
            "ok": self.ok,
            "results": [asdict(r) for r in self.results],
            "leftovers": self.leftovers,
            "reach": [row.as_dict() for row in self.reach],
            "reachCountsAsMissing": self.broken,
        }


def format_report(report: CheckReport) -> str:
    width = max((len(r.label) for r in report.results), default=10) + 2
    lines = [f"BrightSync connector check of {report.base_url} (run {report.run})", ""]
    for r in report.results:
        lines.append(f"  {r.status:<5} {r.label:<{width}} {r.detail}")
    passed = sum(r.status == PASS for r in report.results)
    failed = [r for r in report.results if r.status == FAIL]
    absent = sum(r.status == SKIP and not r.offered for r in report.results)
    skipped = sum(r.status == SKIP and r.offered for r in report.results)
    lines += [
        "",
        f"Summary: {passed} passed, {len(failed)} failed "
        f"({len(report.failed_required)} required), {absent} not offered, {skipped} skipped.",
    ]
    if report.ok:
        optional = ", ".join(r.name for r in failed)
        lines.append(
            "Result: PASS: the required capabilities work"
            + (f"; optional ones fail: {optional}" if optional else ".")
        )
    else:
        names = ", ".join(r.name for r in report.failed_required)
        lines.append(f"Result: FAIL: required capabilities fail: {names}")
    idempotency = next((r for r in report.results if r.name == IDEMPOTENCY), None)
    if idempotency is not None and idempotency.status != PASS:
        lines.append(
            "Recommended: honour the Idempotency-Key header on creates (the same key again "
            "answers the original record), so a create whose answer was lost is never doubled."
        )
    if report.leftovers:
        lines.append(
            "Test records left in the CRM (no delete operation): " + ", ".join(report.leftovers)
        )
    if report.reach:
        lines += ["", "What this connector gets you:", *reach_lines(report.reach)]
        if report.broken:
            lines.append(
                "  (counted as not offered because their check failed: "
                + ", ".join(report.broken)
                + ")"
            )
    return "\n".join(lines) + "\n"


def report_json(report: CheckReport) -> str:
    return json.dumps(report.as_dict(), indent=2)
