"""The webhook's promises on every intake path, through the web app and a real broker:
embedded (SQLite + SQL broker), PostgreSQL's database path, and PostgreSQL + Redis (the
Redis buffer, then the drain task's code run here in place of a worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brightsync.signing import signed_headers
from tests.conftest import SIGNING_SECRET, apply_env
from tests.support.helpers import notification_body
from tests.support.intake_paths import PATHS, intake_path, redis_path

URL = "/webhooks/aurinko"


@pytest.fixture(params=list(PATHS))
def path(request):
    """(env, test client) of a fresh backend for one intake path, with one email user (42)."""
    from brightsync.web import create_app

    with intake_path(request.param) as env:
        yield env, create_app().test_client()


def _note(i: int, account: int | str = 42, resource: str = "/email/messages") -> bytes:
    return notification_body(account, i, resource, subscription=7)


def _post(client, raw: bytes, headers: dict[str, str] | None = None):
    h = headers or signed_headers(SIGNING_SECRET, raw)
    return client.post(URL, data=raw, headers={**h, "Content-Type": "application/json"})


def _published(env: dict[str, str]) -> int:
    """Tasks waiting on the intake queue of the real broker."""
    import sqlalchemy as sa

    url = env["CELERY_BROKER_URL"]
    if url.startswith("redis"):
        import redis

        return int(redis.Redis.from_url(url).llen("intake"))
    engine = sa.create_engine(url.removeprefix("sqla+"))
    try:
        with engine.connect() as conn:
            if "kombu_message" not in sa.inspect(conn).get_table_names():
                return 0
            return conn.execute(sa.text("SELECT count(*) FROM kombu_message")).scalar()
    finally:
        engine.dispose()


def _settle(env: dict[str, str]) -> None:
    """On Redis, run the drain task's code (what a worker does) so the database shows it."""
    if redis_path(env):
        from brightsync.sync import intake

        intake.drain()


def _audit() -> dict[str, str]:
    from brightsync.db import session_scope
    from brightsync.models import Notification

    with session_scope() as s:
        return {n.account_id + "/" + n.resource: n.outcome for n in s.query(Notification)}


def _outcomes() -> list[str]:
    from brightsync.db import session_scope
    from brightsync.models import Notification

    with session_scope() as s:
        return sorted(n.outcome for n in s.query(Notification))


def test_a_burst_publishes_one_task_and_every_notification_is_audited(path):
    env, client = path
    answers = [_post(client, _note(i)) for i in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    bodies = [r.get_json() for r in answers]
    assert bodies[0] == {"status": "enqueued", "service": "email"}
    assert bodies[1:] == [{"status": "coalesced", "service": "email"}] * 5
    assert _published(env) == 1  # the drain task (Redis) or the run (database path)
    _settle(env)
    assert _outcomes() == ["coalesced"] * 5 + ["enqueued"]

    from brightsync.db import session_scope
    from brightsync.models import SyncState

    with session_scope() as s:
        state = s.query(SyncState).one()  # made by the first notification
        assert state.state == "queued" and state.pending_since is not None
        assert state.counters == {} and state.runs == 0


def test_a_replay_is_recognised_and_changes_nothing(path):
    env, client = path
    raw = _note(1)
    headers = signed_headers(SIGNING_SECRET, raw)
    assert _post(client, raw, headers).get_json()["status"] == "enqueued"
    assert _post(client, raw, headers).get_json() == {"status": "duplicate"}
    _settle(env)
    assert _outcomes() == ["enqueued"]
    assert _post(client, raw, headers).get_json() == {"status": "duplicate"}  # after the drain
    assert _published(env) == (2 if redis_path(env) else 1)  # Redis: the drain, its run


def test_unknown_accounts_and_unsynced_resources_are_audited_as_ignored(path):
    env, client = path
    unknown = _post(client, _note(1, account=999)).get_json()
    contacts = _post(client, _note(2, resource="/contacts")).get_json()
    tracking = _post(client, _note(3, resource="/email/tracking")).get_json()
    if redis_path(env):  # the worker knows the accounts and their services
        assert unknown["status"] == "enqueued" and contacts["status"] == "coalesced"
    else:
        assert unknown == {"status": "ignored", "reason": "unknown account"}
        assert contacts == {"status": "ignored", "reason": "resource not synced for this user"}
    assert tracking["status"] == "ignored"
    _settle(env)
    assert _audit() == {
        "999//email/messages": "ignored",
        "42//contacts": "ignored",
        "42//email/tracking": "ignored",
    }


def test_a_stale_request_is_made_again_and_a_fresh_one_coalesces(path):
    env, client = path
    from brightsync.db import session_scope
    from brightsync.models import SyncState, utcnow
    from brightsync.sync.scheduler import PENDING_STALE_AFTER

    assert _post(client, _note(1)).get_json()["status"] == "enqueued"
    _settle(env)
    with session_scope() as s:  # its task was lost long ago
        s.query(SyncState).update(
            {"pending_since": utcnow() - PENDING_STALE_AFTER - timedelta(seconds=5)}
        )
    assert _post(client, _note(2)).get_json()["status"] in ("enqueued", "coalesced")
    _settle(env)
    assert _post(client, _note(3)).get_json()["status"] in ("enqueued", "coalesced")
    _settle(env)
    # The stale request was replaced (published again); the fresh one after it coalesced.
    assert _outcomes() == ["coalesced", "enqueued", "enqueued"]
    assert _published(env) == (5 if redis_path(env) else 2)  # Redis: 3 drains and 2 runs


def test_broker_down_is_503_and_the_redelivery_is_accepted(path):
    env, client = path
    from brightsync.config import load_settings
    from brightsync.web import create_app

    raw = _note(1)
    headers = signed_headers(SIGNING_SECRET, raw)
    down = {**env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    apply_env(down)
    try:
        r = _post(create_app(load_settings(down)).test_client(), raw, headers)
        assert r.status_code == 503
        assert "retry later" in r.get_json()["error"]
    finally:
        apply_env(env)
    again = _post(client, raw, headers).get_json()
    assert again["status"] == "enqueued", again
    assert _published(env) == 1
    _settle(env)
    assert _outcomes() == ["enqueued"]


def test_a_held_database_connection_the_server_dropped_is_replaced(path):
    """The database path holds its connection between webhooks: a PostgreSQL restart (here
    every backend terminated) costs the next webhook nothing, and nothing is recorded twice."""
    env, client = path
    if redis_path(env) or not env["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the database path on PostgreSQL: the one holding a server connection")
    from tests.support.faults import kill_pg_connections

    assert _post(client, _note(1)).get_json()["status"] == "enqueued"
    assert kill_pg_connections(env["DATABASE_URL"]) >= 1
    assert _post(client, _note(2)).get_json()["status"] == "coalesced"
    assert _outcomes() == ["coalesced", "enqueued"]
    assert _published(env) == 1


def test_a_prepared_intake_statement_the_server_lost_falls_back_to_plain(path):
    """A pooler in transaction mode (PgBouncer) may put the held connection's statements on a
    server connection that never saw its PREPARE: the webhook is still taken, once."""
    env, client = path
    if redis_path(env) or not env["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the database path on PostgreSQL: the one preparing its statement")
    from brightsync.sync import intake_db

    assert _post(client, _note(1)).get_json()["status"] == "enqueued"
    held = intake_db._connection()  # the process's held connection, as the pooler sees it
    assert held.prepared
    with held.dbapi.cursor() as cur:
        cur.execute("DEALLOCATE brightsync_intake")
    assert _post(client, _note(2)).get_json()["status"] == "coalesced"
    assert not held.prepared
    assert _post(client, _note(3)).get_json()["status"] == "coalesced"
    assert _outcomes() == ["coalesced", "coalesced", "enqueued"]
