"""The web while the database is away: 503 with a reason (never 500), no traceback, and back
to normal once it returns; the pool reconnects by itself (issue 20)."""

from __future__ import annotations

import logging

import pytest

from brightsync.signing import signed_headers
from tests.conftest import ADMIN_TOKEN, SIGNING_SECRET, apply_env
from tests.support.helpers import notification_body

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def database_down(unit_env):
    """The app with its database pointing at a closed port (the broker still up)."""
    from brightsync.web import create_app

    down = {**unit_env, "DATABASE_URL": "postgresql+psycopg2://u:p@127.0.0.1:1/gone"}
    apply_env(down)
    try:
        yield create_app().test_client()
    finally:
        apply_env(unit_env)


def test_database_away_is_503_with_a_reason(database_down, caplog):
    body = notification_body(42, 1)
    with caplog.at_level(logging.INFO):
        answers = [
            database_down.get("/api/v1/orgs", headers=AUTH),
            database_down.get("/api/v1/users/1", headers=AUTH),
            database_down.post(
                "/webhooks/aurinko", data=body, headers=signed_headers(SIGNING_SECRET, body)
            ),
        ]
    for r in answers:
        assert r.status_code == 503, (r.request.path, r.get_json())
        assert r.get_json()["error"] == "database unavailable; retry later"
        assert r.get_json()["reason"]
    assert not [rec for rec in caplog.records if rec.exc_info], "an outage logged a traceback"


def test_dropped_connections_cost_one_503_then_reconnect(stack):
    """PostgreSQL drops every connection (a restart): the next request may find its pooled
    connection dead (503), the one after is served by a fresh connection."""
    if "postgresql" not in stack.env["DATABASE_URL"]:
        pytest.skip("PostgreSQL only: SQLite has no connections to drop")
    import requests

    from tests.support.faults import kill_pg_connections

    url = stack.web_url + "/api/v1/orgs"
    assert requests.get(url, headers=AUTH, timeout=10).status_code == 200
    kill_pg_connections(stack.env["DATABASE_URL"])
    statuses = [requests.get(url, headers=AUTH, timeout=10).status_code for _ in range(4)]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-1] == 200, statuses
