"""The drain's decision for one batch of buffered notifications (no I/O)."""

from __future__ import annotations

from brightsync.sync.intake import coalesced_into_pending, decide, entry


def _entry(account: str, resource: str, n: int):
    note = {"accountId": account, "resource": resource, "subscription": 7, "payloads": [{}]}
    return entry(note, f"d{n}", received=1_700_000_000.0 + n)


USERS = {"42": (1, ["email", "calendar"]), "43": (2, ["email"])}
# Two of alice's mails, one of bob's, one of alice's meetings.
BURST = [
    ("42", "/email/messages"),
    ("42", "/email/messages"),
    ("43", "/email/messages"),
    ("42", "/calendars/primary/events"),
]


def test_each_user_service_is_requested_once_and_the_rest_is_audited():
    batch = [_entry(account, resource, n) for n, (account, resource) in enumerate(BURST)] + [
        _entry("43", "/contacts", 4),  # alice's colleague does not sync contacts
        _entry("999", "/email/messages", 5),  # unknown account
        _entry("42", "/email/tracking", 6),  # no service at all
    ]
    wanted, rows = decide(batch, USERS)
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
    batch = [_entry(account, resource, n) for n, (account, resource) in enumerate(BURST)]
    wanted, rows = decide(batch, USERS)
    # (1, email) already had a run queued: requesting it published nothing.
    rows = coalesced_into_pending(batch, rows, {(1, "email")})
    assert [r["outcome"] for r in rows] == ["coalesced", "coalesced", "enqueued", "enqueued"]
