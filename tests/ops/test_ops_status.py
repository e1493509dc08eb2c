"""The operator's pure decisions: health, next run, error cause, webhook outcome, buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from brightsync.ops.hooks import webhook_outcome
from brightsync.ops.runlog import BUCKET, bucket_of, tally
from brightsync.ops.status import error_cause, next_run_at, service_health

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def health(**kw):
    base = dict(
        user_paused=False,
        service_paused=False,
        mailbox_state="ok",
        run_state="idle",
        last_sync_at=NOW,
        last_error_at=None,
    )
    return service_health(**{**base, **kw})


def test_health_in_order_of_what_an_operator_must_do_first():
    assert health() == "active"
    assert health(last_sync_at=None, run_state=None) == "initialising"
    assert health(service_paused=True, mailbox_state="reauth_required") == "paused"
    assert health(user_paused=True, run_state="error") == "paused"
    assert health(mailbox_state="reauth_required", run_state="error") == "needs_reauth"
    assert health(run_state="error") == "failing"
    assert health(last_error_at=NOW + timedelta(seconds=1)) == "failing"
    # An error followed by a good run is history, not a failing service.
    assert health(last_error_at=NOW - timedelta(minutes=1)) == "active"
    assert health(last_sync_at=None, last_error_at=NOW) == "failing"


def test_next_run():
    assert next_run_at("paused", NOW, NOW, NOW) is None
    assert next_run_at("needs_reauth", None, NOW, NOW) is None
    assert next_run_at("active", NOW, NOW, NOW) == NOW  # queued now
    assert next_run_at("active", None, NOW, NOW + timedelta(minutes=5)) == NOW + timedelta(
        minutes=30
    )
    late = NOW + timedelta(hours=2)
    assert next_run_at("failing", None, NOW, late) == late


def test_error_cause_names_the_side_and_the_kind():
    aur, crm = "https://api.aurinko.io", "https://crm.example/acme"
    cause = error_cause(
        "TransientError: GET https://api.aurinko.io/v1/email/sync/updated: 429 slow down",
        aurinko_url=aur,
        crm_url=crm,
    )
    assert cause == "Aurinko failed temporarily (429); retried with backoff"
    cause = error_cause(
        "AuthError: POST https://crm.example/acme/api/v1/emails: 401 bad token",
        aurinko_url=aur,
        crm_url=crm,
    )
    assert cause == "the CRM connector refused the credentials (401)"
    assert "re-authorise" in error_cause("mailbox needs re-authorisation: token revoked")
    assert error_cause("KeyError: 'id'").startswith("an error inside BrightSync (KeyError)")
    assert error_cause(None) is None


def test_webhook_outcomes_are_bounded_labels():
    assert webhook_outcome(200, {"status": "enqueued"}) == ("received", "enqueued")
    assert webhook_outcome(200, None) == ("received", "handshake")
    assert webhook_outcome(401, {"error": "signature mismatch"}) == (
        "rejected",
        "signature_mismatch",
    )
    assert webhook_outcome(413, None) == ("rejected", "too_large")
    assert webhook_outcome(418, None) == ("rejected", "http_418")


def test_tally_maps_counters_to_chart_outcomes():
    assert tally(
        {
            "logged": 2,
            "found_existing": 1,
            "skipped_bulk": 3,
            "unmatched": 4,
            "failed": 1,
            "body_loads": 9,
        }
    ) == {"synced": 3, "skipped": 3, "cached": 4, "failed": 1}


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_bucket_holds_its_moment(naive):
    when = naive.replace(tzinfo=UTC)
    bucket = bucket_of(when)
    assert bucket <= when < bucket + BUCKET
    assert bucket_of(bucket) == bucket and bucket.second == 0 and bucket.minute % 5 == 0


def test_review_mode_shows_unless_something_needs_attention() -> None:
    from brightsync.ops.status import service_health

    facts = dict(
        user_paused=False,
        service_paused=False,
        mailbox_state="ok",
        run_state="idle",
        last_sync_at=None,
        last_error_at=None,
    )
    assert service_health(**facts, in_review=True) == "review"
    assert service_health(**facts) == "initialising"
    assert service_health(**{**facts, "user_paused": True}, in_review=True) == "paused"
    assert service_health(**{**facts, "run_state": "error"}, in_review=True) == "failing"
