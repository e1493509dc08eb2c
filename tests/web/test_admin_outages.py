"""Admin actions while the broker is down: 503 with a reason, nothing half-done, no traceback."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import ADMIN_TOKEN, apply_env

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def broker_down(unit_env):
    """The app with its broker pointing at a closed port (the database still up)."""
    from brightsync.web import create_app

    down = {**unit_env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    apply_env(down)
    try:
        yield create_app().test_client()
    finally:
        apply_env(unit_env)


def test_registration_with_the_broker_down_is_503_and_registers_nothing(broker_down, caplog):
    from brightsync.db import session_scope
    from brightsync.models import Subscription, User
    from tests.factories import make_org

    org_id = make_org()
    user = {"email": "a@acme.com", "aurinkoAccountId": 5, "aurinkoAccessToken": "tok"}
    with caplog.at_level(logging.INFO):
        r = broker_down.post(f"/api/v1/orgs/{org_id}/users", json=user, headers=AUTH)
    assert r.status_code == 503
    assert "queue unavailable" in r.get_json()["error"]
    assert not [rec for rec in caplog.records if rec.exc_info], (
        "an expected outage logged a traceback"
    )
    with session_scope() as s:
        assert s.query(User).count() == 0
        assert s.query(Subscription).count() == 0


def test_sync_now_with_the_broker_down_is_503(broker_down, caplog):
    from tests.factories import make_org, make_user

    user_id = make_user(make_org(), "alice")
    with caplog.at_level(logging.INFO):
        r = broker_down.post(f"/api/v1/users/{user_id}/sync", json={}, headers=AUTH)
    assert r.status_code == 503
    assert "retry later" in r.get_json()["error"]
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_registration_answers_at_once_with_pending_subscriptions(client):
    from tests.factories import make_org

    org_id = make_org()
    user = {
        "email": "a@acme.com",
        "aurinkoAccountId": 5,
        "aurinkoAccessToken": "tok",
        "services": ["email", "contacts"],
    }
    r = client.post(f"/api/v1/orgs/{org_id}/users", json=user, headers=AUTH)
    assert r.status_code == 201, r.get_json()
    subs = r.get_json()["subscriptions"]
    assert [(s["service"], s["state"]) for s in subs] == [
        ("email", "pending"),
        ("contacts", "pending"),
    ]
    again = client.post(f"/api/v1/orgs/{org_id}/users", json=user, headers=AUTH)
    assert again.status_code == 409


def test_operator_actions_that_queue_work_are_503_with_the_broker_down(broker_down, caplog):
    from tests.factories import make_org, make_user

    user_id = make_user(make_org(), "alice")
    for action in ("resume", "resync"):
        with caplog.at_level(logging.INFO):
            r = broker_down.post(f"/api/v1/users/{user_id}/{action}", json={}, headers=AUTH)
        assert r.status_code == 503, (action, r.get_json())
        assert "queue unavailable" in r.get_json()["error"]
    assert not [rec for rec in caplog.records if rec.exc_info]
