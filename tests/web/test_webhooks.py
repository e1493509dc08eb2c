"""POST /webhooks/aurinko with real signed requests: every rejection, the handshake, intake."""

from __future__ import annotations

import json
import time

import pytest

from brightsync.signing import signed_headers
from tests.conftest import SIGNING_SECRET

URL = "/webhooks/aurinko"


def post(client, body: bytes | dict, *, secret=SIGNING_SECRET, ts=None, headers=None, query=""):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = signed_headers(secret, raw, timestamp=ts) if secret else {}
    h.update(headers or {})
    h.setdefault("Content-Type", "application/json")
    return client.post(URL + query, data=raw, headers=h)


@pytest.fixture
def registered(app):
    """An org and a user with email sync (Aurinko account 42)."""
    from tests.factories import make_org, make_user

    return make_user(make_org(), "alice", account_id="42")


def note(account=42, resource="/email/messages", **extra):
    return {
        "subscription": 7,
        "resource": resource,
        "accountId": account,
        "payloads": [{"id": "m1", "changeType": "created"}],
        **extra,
    }


def queued_messages(env) -> int:
    """Messages waiting in the embedded broker's database (what a worker would consume)."""
    import sqlalchemy as sa

    url = env["CELERY_BROKER_URL"].removeprefix("sqla+")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            if "kombu_message" not in tables:
                return 0
            return conn.execute(sa.text("SELECT count(*) FROM kombu_message")).scalar()
    finally:
        engine.dispose()


def test_handshake_echoes_the_token_as_plain_text(client):
    r = post(client, b"", query="?validationToken=abc123", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    assert r.data == b"abc123"
    assert r.mimetype == "text/plain"


def test_handshake_must_be_signed_too(client):
    r = post(client, b"", secret=None, query="?validationToken=abc123")
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret": None}, "missing signature headers"),
        ({"secret": "wrong"}, "signature mismatch"),
        ({"ts_offset": -310}, "timestamp outside the allowed window"),
        ({"ts_offset": 310}, "timestamp outside the allowed window"),
    ],
)
def test_bad_signatures_are_401_and_enqueue_nothing(client, unit_env, registered, kwargs, reason):
    if "ts_offset" in kwargs:
        kwargs = {"ts": int(time.time()) + kwargs["ts_offset"]}
    r = post(client, note(), **kwargs)
    assert r.status_code == 401
    assert r.get_json()["error"] == reason
    assert queued_messages(unit_env) == 0


def test_tampered_body_is_401(client, unit_env, registered):
    raw = json.dumps(note()).encode()
    h = signed_headers(SIGNING_SECRET, raw)
    r = client.post(URL, data=raw.replace(b"42", b"43"), headers=h)
    assert r.status_code == 401
    assert queued_messages(unit_env) == 0


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "body is not JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (json.dumps({"resource": "/email/messages"}).encode(), 400, "invalid notification"),
        (json.dumps({"accountId": [1], "resource": "/x"}).encode(), 400, "invalid notification"),
    ],
)
def test_malformed_bodies_are_400_with_a_reason(client, unit_env, body, status, fragment):
    r = post(client, body)
    assert r.status_code == status
    assert fragment in r.get_json()["error"]
    assert queued_messages(unit_env) == 0


def test_oversized_body_is_413(client, unit_env):
    r = post(client, b"x" * 1_100_000)
    assert r.status_code == 413
    assert queued_messages(unit_env) == 0


def test_refused_until_a_signing_secret_is_set(unit_env):
    from brightsync.config import load_settings
    from brightsync.web import create_app

    env = {**unit_env, "AURINKO_SIGNING_SECRET": ""}
    app = create_app(load_settings(env))
    r = post(app.test_client(), note())
    assert r.status_code == 401
    assert "AURINKO_SIGNING_SECRET" in r.get_json()["error"]


def test_unknown_account_is_acknowledged_and_ignored(client, unit_env, registered):
    r = post(client, note(account=999))
    assert r.status_code == 200
    assert r.get_json() == {"status": "ignored", "reason": "unknown account"}
    assert queued_messages(unit_env) == 0


def test_valid_notification_is_enqueued_once_and_bursts_coalesce(client, unit_env, registered):
    from brightsync.db import session_scope
    from brightsync.models import Notification, SyncState

    first = post(client, note())
    assert first.status_code == 200
    assert first.get_json() == {"status": "enqueued", "service": "email"}
    for i in range(5):
        r = post(client, note(payloads=[{"id": f"n{i}", "changeType": "created"}]))
        assert r.get_json()["status"] == "coalesced"
    assert queued_messages(unit_env) == 1
    with session_scope() as s:
        state = s.query(SyncState).one()
        assert state.state == "queued" and state.pending_since is not None
        outcomes = sorted(n.outcome for n in s.query(Notification))
    assert outcomes == ["coalesced"] * 5 + ["enqueued"]


def test_a_replayed_delivery_is_recognised(client, unit_env, registered):
    raw = json.dumps(note()).encode()
    h = signed_headers(SIGNING_SECRET, raw)
    assert client.post(URL, data=raw, headers=h).get_json()["status"] == "enqueued"
    assert client.post(URL, data=raw, headers=h).get_json()["status"] == "duplicate"


def test_resource_not_synced_for_the_user_is_ignored(client, unit_env, registered):
    r = post(client, note(resource="/contacts"))
    assert r.get_json()["status"] == "ignored"
    r = post(client, note(resource="/email/tracking"))
    assert r.get_json()["status"] == "ignored"
    assert queued_messages(unit_env) == 0


def test_lifecycle_error_marks_the_subscription_unhealthy(client, registered):
    from brightsync.db import session_scope
    from brightsync.models import Subscription

    with session_scope() as s:
        s.add(
            Subscription(
                user_id=registered,
                service="email",
                resource="/email/messages",
                aurinko_id="7",
                state="active",
            )
        )
    r = post(client, note(lifecycleEvent="error", error="delivery failing since noon"))
    assert r.status_code == 200
    with session_scope() as s:
        sub = s.query(Subscription).one()
        assert sub.state == "error"
        assert sub.last_error == "delivery failing since noon"
    r = post(client, note(lifecycleEvent="active", payloads=[]))
    with session_scope() as s:
        assert s.query(Subscription).one().state == "active"


def test_broker_down_answers_503_and_the_redelivery_is_not_a_duplicate(unit_env, registered):
    from brightsync.celery import reconfigure
    from brightsync.config import load_settings, reset_settings
    from brightsync.web import create_app
    from tests.conftest import apply_env

    down = {**unit_env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    apply_env(down)
    try:
        app = create_app(load_settings(down))
        raw = json.dumps(note()).encode()
        h = signed_headers(SIGNING_SECRET, raw)
        r = app.test_client().post(URL, data=raw, headers=h)
        assert r.status_code == 503
        assert "retry later" in r.get_json()["error"]
    finally:
        apply_env(unit_env)
        reset_settings()
        reconfigure()
    # Broker back: the same delivery (Aurinko retries it) is accepted, not dismissed.
    app = create_app(load_settings(unit_env))
    r = app.test_client().post(URL, data=raw, headers=h)
    assert r.get_json()["status"] == "enqueued"
    assert queued_messages(unit_env) == 1
