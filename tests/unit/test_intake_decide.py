"""The drain's decision for one batch of buffered notifications (no I/O)."""

from __future__ import annotations

from brightsync.sync.intake import coalesced_into_pending, decide, entry


def _entry(account: str, resource: str, n: int):
    note = {"accountId": account, "resource": resource, "subscription": 7, "payloads": [{}]}
    return entry(note, f"d{n}", received=1_700_000_000.0 + n)


def test_each_user_service_is_requested_once_and_the_rest_is_audited():
    users = {"42": (1, ["email", "calendar"]), "43": (2, ["email"])}
    batch = [
        _entry("42", "/email/messages", 0),
        _entry("42", "/email/messages", 1),
        _entry("43", "/email/messages", 2),
        _entry("42", "/calendars/primary/events", 3),
        _entry("43", "/contacts", 4),  # alice's colleague does not sync contacts
        _entry("999", "/email/messages", 5),  # unknown account
        _entry("42", "/email/tracking", 6),  # no service at all
    ]
    wanted, rows = decide(batch, users)
    assert wanted == [(1, "email"), (2, "email"), (1, "calendar")]
    assert [r["outcome"] for r in rows] == [
        "enqueued",
        "coalesced",
        "enqueued",
        "enqueued",
        "ignored",
        "ignored",
        "ignored",
    ]
    assert [r["user_id"] for r in rows] == [1, 1, 2, 1, 2, None, 1]
    assert {r["digest"] for r in rows} == {f"d{n}" for n in range(7)}
    assert rows[0]["subscription"] == "7" and rows[0]["payload_count"] == 1
    assert rows[5]["received_at"].year == 2023 and rows[5]["received_at"].tzinfo is not None


def test_a_request_that_found_a_run_pending_is_audited_as_coalesced():
    users = {"42": (1, ["email", "calendar"]), "43": (2, ["email"])}
    batch = [
        _entry("42", "/email/messages", 0),
        _entry("42", "/email/messages", 1),
        _entry("43", "/email/messages", 2),
        _entry("42", "/calendars/primary/events", 3),
    ]
    wanted, rows = decide(batch, users)
    # (1, email) already had a run queued: requesting it published nothing.
    rows = coalesced_into_pending(batch, rows, {(1, "email")})
    assert [r["outcome"] for r in rows] == ["coalesced", "coalesced", "enqueued", "enqueued"]
