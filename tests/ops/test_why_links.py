"""The two-way link explainer on status rows in each state (no database: the rows as stored)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from brightsync.models import ObjectLink
from brightsync.ops.why_links import decision_of, explain_link

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CONTACTS = {"direction": "two-way", "conflict": "crm", "category": None}


def row(**values: Any) -> ObjectLink:
    base: dict[str, Any] = {
        "id": 7,
        "org_id": 1,
        "user_id": 3,
        "domain": "contacts",
        "mailbox_id": "mb-1",
        "crm_id": "c-1",
        "mailbox_gone": False,
        "crm_gone": False,
        "state": "synced",
        "updated_at": AT,
    }
    return ObjectLink(**{**base, **values})


def test_synced_link_with_both_ids_user_times_and_settings() -> None:
    out = explain_link(row(), CONTACTS, user_email="ann@acme.com", last_run_at=AT)
    assert out["decision"] == "synced" and out["why"] == "both sides agree"
    assert (out["mailboxId"], out["crmId"], out["userId"], out["mailbox"]) == (
        "mb-1",
        "c-1",
        3,
        "ann@acme.com",
    )
    assert out["lastSyncedAt"] == out["lastRunAt"] == AT.isoformat()
    assert out["settings"] == {"direction": "two-way", "conflict": "crm"}
    assert "conflict" not in out


def test_conflict_names_fields_policy_and_winner() -> None:
    conflict = {
        "fields": ["title"],
        "lost": {"mailbox": {"title": "Finance Director"}},
        "policy": "crm",
        "at": AT.isoformat(),
    }
    out = decision_of(row(conflict=conflict))
    assert out["decision"] == "synced"
    assert out["conflict"]["winner"] == "crm"
    assert out["conflict"]["lost"] == {"mailbox": {"title": "Finance Director"}}
    assert "title" in out["why"] and "'crm'" in out["why"] and "crm's values" in out["why"]


def test_held_deletion_with_the_side_reason_and_a_pending_decision() -> None:
    held = row(
        state="held",
        held="crm",
        mailbox_gone=True,
        error="contact c-1 has logged email; not deleted",
        error_at=AT,
    )
    out = decision_of(held, held_decision="approve")
    assert out["decision"] == "held"
    assert out["held"]["deleteIn"] == "crm" and out["held"]["deletedIn"] == "mailbox"
    assert out["held"]["decision"] == "approve" and out["held"]["at"] == AT.isoformat()
    assert "logged email" in out["why"] and "waits for review" in out["why"]


def test_held_by_the_mass_deletion_guard() -> None:
    out = decision_of(row(state="held", held="mailbox", crm_gone=True))
    assert out["held"]["deleteIn"] == "mailbox"
    assert "mass-deletion guard" in out["why"]


def test_final_crm_error_is_explained_as_not_retried() -> None:
    failed = row(state="failed", blocked="h1", error="422: lastName is required", error_at=AT)
    out = explain_link(failed, CONTACTS)
    assert out["decision"] == "failed" and "lastName is required" in out["why"]
    assert "not tried again" in out["why"] and out["errorAt"] == AT.isoformat()


def test_possible_duplicate_waiting_for_review_shows_the_pair() -> None:
    pair = {"id": 4, "score": 0.71, "reasons": ["same name"], "state": "open"}
    waiting = row(
        state="failed",
        crm_id=None,
        blocked="h2",
        error="possible duplicate of crm contact c-9 (score 0.71: same name): waiting for review",
    )
    out = decision_of(waiting, duplicate=pair)
    assert out["decision"] == "review" and out["duplicate"] == pair
    assert "c-9" in out["why"]
    # Without the pair row (e.g. it was deleted) the recorded reason still says why.
    assert decision_of(waiting)["decision"] == "review"


def test_creating_and_deleted() -> None:
    creating = decision_of(row(state="creating", crm_id=None, intent_key="k", intent_side="crm"))
    assert creating["decision"] == "creating" and "in the crm" in creating["why"]
    gone = decision_of(row(state="deleted", mailbox_gone=True, crm_gone=True))
    assert gone == {"decision": "deleted", "why": "deleted on both sides"}
    one = decision_of(row(state="deleted", mailbox_gone=True, crm_id=None, domain="tasks"))
    assert one["decision"] == "deleted" and "mailbox" in one["why"]
