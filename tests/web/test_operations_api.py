"""Status, actions and "why" through the admin API on a real database (no worker needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from brightsync.db import session_scope
from brightsync.models import EmailClaim, SyncState, UnmatchedItem, User, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_org, make_user

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def org_user(app):
    org_id = make_org()
    return org_id, make_user(org_id, "alice")


def test_pause_is_durable_and_refuses_sync_now_until_resumed(client, org_user):
    _, uid = org_user
    r = client.post(f"/api/v1/users/{uid}/pause", json={}, headers=AUTH)
    assert r.status_code == 200 and r.json["paused"] is True
    with session_scope() as s:
        assert s.get(User, uid).paused is True
    status = client.get(f"/api/v1/users/{uid}", headers=AUTH).json
    assert status["paused"] is True
    assert status["status"]["email"]["health"] == "paused"
    assert status["status"]["email"]["nextRunAt"] is None
    refused = client.post(f"/api/v1/users/{uid}/sync", json={}, headers=AUTH)
    assert refused.status_code == 409 and "paused" in refused.json["error"]

    # A run that starts anyway (a webhook queued it earlier) stops at the door.
    from brightsync.domains import run_service

    assert run_service(uid, "email") == {"status": "skipped", "reason": "paused"}

    # Pausing one service, then resuming the user, resumes everything.
    r = client.post(f"/api/v1/users/{uid}/pause", json={"service": "email"}, headers=AUTH)
    assert r.status_code == 200, r.json
    with session_scope() as s:
        state = s.scalar(select(SyncState).where(SyncState.user_id == uid))
        assert state.paused is True
    r = client.post(f"/api/v1/users/{uid}/resume", json={}, headers=AUTH)
    assert r.status_code == 200, r.json
    assert r.json["queued"] == {"email": "enqueued"}
    with session_scope() as s:
        assert s.get(User, uid).paused is False
        assert s.scalar(select(SyncState.paused).where(SyncState.user_id == uid)) is False


def test_actions_answer_4xx_with_reasons(client, org_user):
    org_id, uid = org_user
    cases = [
        ("post", f"/api/v1/users/{uid}/pause", {"service": "calendar"}, 400),
        ("post", f"/api/v1/users/{uid}/pause", {"service": "nope"}, 400),
        ("post", "/api/v1/users/999/pause", {}, 404),
        ("post", "/api/v1/users/999/resync", {}, 404),
        ("post", f"/api/v1/orgs/{org_id}/unmatched/999/retry", None, 404),
        ("get", f"/api/v1/orgs/{org_id}/why/email", None, 400),
        ("get", f"/api/v1/orgs/{org_id}/why/invoice?key=x", None, 404),
        ("get", f"/api/v1/orgs/{org_id}/why/email?key=%3Cnope%40x%3E", None, 404),
        ("get", "/api/v1/orgs/999/status", None, 404),
        ("get", f"/api/v1/orgs/{org_id}/runs?hours=abc", None, 400),
    ]
    for method, path, body, expected in cases:
        r = getattr(client, method)(path, json=body, headers=AUTH)
        assert r.status_code == expected, (path, r.json)
        assert r.json.get("error"), path
    assert client.get(f"/api/v1/orgs/{org_id}/status").status_code == 401


def test_resync_clears_tokens_but_not_under_a_running_lease(client, org_user):
    _, uid = org_user
    with session_scope() as s:
        s.add(
            SyncState(
                user_id=uid,
                service="email",
                updated_token="tok-1",
                crm_since="2026-01-01",
                lease_until=utcnow() + timedelta(minutes=5),
                lease_owner="other",
                state="running",
            )
        )
    busy = client.post(f"/api/v1/users/{uid}/resync", json={}, headers=AUTH)
    assert busy.status_code == 409 and "in progress" in busy.json["error"]
    with session_scope() as s:
        assert s.scalar(select(SyncState.updated_token)) == "tok-1"
        s.execute(SyncState.__table__.update().values(lease_until=None, state="idle"))
    r = client.post(f"/api/v1/users/{uid}/resync", json={}, headers=AUTH)
    assert r.status_code == 202, r.json
    assert r.json["queued"] == {"email": "enqueued"}
    with session_scope() as s:
        state = s.scalar(select(SyncState))
        assert (state.updated_token, state.crm_since, state.state) == (None, None, "queued")


def test_org_status_and_why_for_unmatched_mail(client, org_user):
    org_id, uid = org_user
    now = utcnow()
    with session_scope() as s:
        s.add(
            EmailClaim(
                org_id=org_id,
                message_key="m1@x.io",
                internet_message_id="<m1@x.io>",
                owner_user_id=uid,
                provider_message_id="p1",
                state="unmatched",
                reason="no matching contact",
                subject="Quote",
                addresses=["bob@x.io", "carol@y.io"],
            )
        )
        s.add(
            UnmatchedItem(
                org_id=org_id,
                kind="email",
                key="m1@x.io",
                user_id=uid,
                subject="Quote",
                addresses=["bob@x.io", "carol@y.io"],
                reason="no matching contact",
                next_retry_at=now + timedelta(hours=24),
                expires_at=now + timedelta(days=30),
            )
        )
        s.add(
            SyncState(
                user_id=uid,
                service="email",
                last_error="TransientError: GET http://crm/api/v1/contacts: 503 down",
                last_error_at=now,
                state="error",
            )
        )
    st = client.get(f"/api/v1/orgs/{org_id}/status", headers=AUTH).json
    assert st["totals"] == {
        "users": 1,
        "services": {"failing": 1},
        "emails": {"unmatched": 1},
        "unmatched": 1,
    }
    assert st["unmatched"]["items"][0]["addresses"] == ["bob@x.io", "carol@y.io"]
    assert st["heldDeletions"] == {"count": 0, "items": []}
    assert st["possibleDuplicates"] == {"count": 0, "items": []}
    user = client.get(f"/api/v1/users/{uid}", headers=AUTH).json["status"]["email"]
    assert user["health"] == "failing"
    assert (
        user["lastErrorCause"] == "the CRM connector failed temporarily (503); retried with backoff"
    )

    why = client.get(f"/api/v1/orgs/{org_id}/why/email?key=<m1@x.io>", headers=AUTH).json
    assert why["kind"] == "email" and why["state"] == "unmatched"
    assert why["addressesMatchedNobody"] == ["bob@x.io", "carol@y.io"]
    assert "sync cache" in why["rule"]
    assert why["mailboxEmails"] == {str(uid): "alice@acme.com"}
    # The older endpoint answers the same, with the addresses too.
    old = client.get(f"/api/v1/orgs/{org_id}/emails?rfc822MsgId=<m1@x.io>", headers=AUTH).json
    assert old["addressesMatchedNobody"] == ["bob@x.io", "carol@y.io"]

    decisions = client.get(f"/api/v1/orgs/{org_id}/decisions", headers=AUTH).json["items"]
    assert [d["key"] for d in decisions] == ["<m1@x.io>"]
    listed = client.get(f"/api/v1/orgs/{org_id}/unmatched", headers=AUTH).json["items"]
    assert listed[0]["id"] and listed[0]["reason"] == "no matching contact"


def test_openapi_documents_the_operations(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    for path in [
        "/api/v1/status",
        "/api/v1/orgs/{orgId}/status",
        "/api/v1/users/{userId}/pause",
        "/api/v1/users/{userId}/resume",
        "/api/v1/users/{userId}/resync",
        "/api/v1/orgs/{orgId}/unmatched/{itemId}/retry",
        "/api/v1/orgs/{orgId}/why/{kind}",
        "/api/v1/orgs/{orgId}/decisions",
        "/api/v1/orgs/{orgId}/runs",
    ]:
        assert path in doc["paths"], path
    assert "health" in doc["components"]["schemas"]["ServiceStatus"]["properties"]


def test_overview_costs_the_same_queries_for_one_or_many_organisations(client, org_user):
    from sqlalchemy import event

    from brightsync.db import get_engine

    def queries() -> tuple[int, dict]:
        seen: list[str] = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(get_engine(), "before_cursor_execute", record)
        try:
            body = client.get("/api/v1/status", headers=AUTH).json
        finally:
            event.remove(get_engine(), "before_cursor_execute", record)
        return len(seen), body

    one, body = queries()
    assert [o["totals"]["users"] for o in body["orgs"]] == [1]
    for n in range(4):
        org_id = make_org(f"Org {n}")
        make_user(org_id, f"u{n}a", account_id=f"a{n}")
        make_user(org_id, f"u{n}b", account_id=f"b{n}")
    many, body = queries()
    assert [o["totals"]["users"] for o in body["orgs"]] == [1, 2, 2, 2, 2]
    assert body["orgs"][1]["totals"]["services"] == {"initialising": 2}
    assert many == one
