"""The check's pure parts: reading list answers and rendering a report (no connector needed)."""

from __future__ import annotations

import json

import pytest

from brightsync.connector.probe import Failed, NotOffered, Reply, expect, ids, items, when
from brightsync.connector.report import (
    FAIL,
    IDEMPOTENCY,
    PASS,
    SKIP,
    CheckReport,
    CheckResult,
    format_report,
    report_json,
)


def test_items_reads_arrays_and_pages():
    assert items(Reply("GET", "/x", 200, [1, 2])) == [1, 2]
    assert items(Reply("GET", "/x", 200, {"records": [{"id": 1}], "nextPageToken": "t"})) == [
        {"id": 1}
    ]
    with pytest.raises(Failed, match="expected a JSON array, got dict"):
        items(Reply("GET", "/x", 200, {"id": 1}))


def test_ids_and_when():
    assert ids([{"id": 7}, "8"]) == ["7", "8"]
    assert when("2026-01-02T03:04:05+00:00") is not None
    assert when("2026-01-02T03:04:05") is None  # an instant needs its offset
    assert when("yesterday") is None


def test_expect_turns_an_answer_into_a_verdict():
    ok = Reply("GET", "/x", 204)
    assert expect(ok, what="load") is ok
    with pytest.raises(NotOffered):
        expect(Reply("GET", "/x", 405), what="load")
    with pytest.raises(Failed, match="load: GET /x -> 500 boom"):
        expect(Reply("GET", "/x", 500, {"message": "boom"}), what="load")


def test_only_required_failures_decide_the_result():
    report = CheckReport("http://crm", "abcd1234")
    report.results = [
        CheckResult("emails.create", PASS, "logged", required=True),
        CheckResult("paging", FAIL, "repeats"),
        CheckResult("users.me", SKIP, "not offered: 404", offered=False),
        CheckResult(IDEMPOTENCY, SKIP, "not tried"),
    ]
    text = format_report(report)
    assert report.exit_code == 0
    assert "Summary: 1 passed, 1 failed (0 required), 1 not offered, 1 skipped." in text
    assert "Result: PASS: the required capabilities work; optional ones fail: paging" in text
    assert "Recommended: honour the Idempotency-Key header" in text
    report.results[0] = CheckResult("emails.create", FAIL, "no id", required=True)
    assert report.exit_code == 1
    assert "Result: FAIL: required capabilities fail: emails.create" in format_report(report)
    assert json.loads(report_json(report))["ok"] is False
