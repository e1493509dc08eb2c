"""What a handled two-way step records on its status row besides the link (pure)."""

from __future__ import annotations

from brightsync.sync.adapter import CRM, MAILBOX
from brightsync.sync.links import step_columns
from brightsync.sync.status import Link
from brightsync.sync.twoway import Failed, Step, Write


def _step(kind: str = "create", *writes: Write, **extra: object) -> Step:
    return Step(kind, Link(key=1), {}, writes, **extra)  # type: ignore[arg-type]


def test_a_create_that_went_through_clears_the_intent() -> None:
    step = _step("create", Write("create", CRM, {"a": 1}))
    assert step_columns(step, {0: None}, "newest") == {"intent_key": None, "intent_side": None}


def test_a_failed_create_keeps_the_intent_and_a_final_failure_records_why() -> None:
    step = _step("create", Write("create", CRM, {"a": 1}))
    assert step_columns(step, {0: Failed("transient", "later")}, "newest") == {}
    columns = step_columns(step, {0: Failed("final", "refused")}, "newest")
    assert columns["error"] == "refused" and "intent_key" not in columns


def test_review_and_conflicts_are_recorded() -> None:
    step = _step("review", reason="possible duplicate")
    assert step_columns(step, {}, "newest")["error"] == "possible duplicate"
    update = Write("update", MAILBOX, {"title": "b"})
    lost = {CRM: {"title": "a"}}
    conflict = step_columns(
        _step("conflict", update, conflicts=("title",), lost=lost), {0: None}, "crm"
    )["conflict"]
    assert conflict["fields"] == ["title"] and conflict["lost"] == lost
    assert conflict["policy"] == "crm"
