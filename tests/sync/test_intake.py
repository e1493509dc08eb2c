"""Fast webhook intake on PostgreSQL + Redis: one Redis round trip in the web process, the
account, the run request and the audit row handled by a real worker's drain task."""

from __future__ import annotations

import json

import pytest
import requests

from brightsync.signing import signed_headers
from tests.conftest import SIGNING_SECRET, apply_env, wait_for
from tests.support.helpers import make_org, make_user
from tests.support.helpers import notification_body as _note


def _post(stack, raw: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    h = headers or signed_headers(SIGNING_SECRET, raw)
    return requests.post(
        stack.web_url + "/webhooks/aurinko",
        data=raw,
        headers={**h, "Content-Type": "application/json"},
        timeout=10,
    )


def test_redis_intake_buffers_coalesces_audits_and_survives_a_broker_outage(clean_stack):
    if not clean_stack.env["CELERY_BROKER_URL"].startswith("redis"):
        pytest.skip("the fast intake is for Redis brokers; the database path is tested in web/")
    import redis
    from sqlalchemy import select

    from brightsync.config import load_settings
    from brightsync.db import session_scope
    from brightsync.models import Notification
    from brightsync.sync import intake
    from brightsync.web import create_app

    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "alice@acme.com")
    bodies = [_note(user["accountId"], i) for i in range(6)]
    statuses = [_post(clean_stack, raw).json()["status"] for raw in bodies]
    assert statuses[0] in ("enqueued", "coalesced") and set(statuses) <= {"enqueued", "coalesced"}
    replay = _note(user["accountId"], 50)
    headers = signed_headers(SIGNING_SECRET, replay)
    first = _post(clean_stack, replay, headers)
    assert _post(clean_stack, replay, headers).json() == {"status": "duplicate"}
    assert first.json()["status"] in ("enqueued", "coalesced")
    unknown = _post(clean_stack, _note(999999, 0)).json()
    assert unknown["status"] in ("enqueued", "coalesced")  # decided by the worker, not here
    tracking = _post(clean_stack, _note(user["accountId"], 0, "/email/tracking")).json()
    assert tracking["status"] == "ignored"  # no service: known without the account
    not_synced = _post(clean_stack, _note(user["accountId"], 0, "/contacts")).json()
    assert not_synced["status"] in ("enqueued", "coalesced")  # the worker knows the services

    # Broker down, Redis up: 503, and Aurinko's redelivery is accepted, not a replay.
    down = {**clean_stack.env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    raw = _note(user["accountId"], 99)
    h = signed_headers(SIGNING_SECRET, raw)
    client = redis.Redis.from_url(clean_stack.env["REDIS_URL"])
    client.delete(intake.FLAG)  # no drain queued: this delivery must publish one
    apply_env(down)
    try:
        r = (
            create_app(load_settings(down))
            .test_client()
            .post("/webhooks/aurinko", data=raw, headers={**h, "Content-Type": "application/json"})
        )
        assert r.status_code == 503
    finally:
        apply_env(clean_stack.env)
    assert _post(clean_stack, raw, h).json()["status"] in ("enqueued", "coalesced")

    # The worker drains the buffer: every accepted delivery audited once, by digest.
    def audited():
        with session_scope() as s:
            rows = s.execute(select(Notification.account_id, Notification.outcome)).all()
        return rows if len(rows) == 11 and client.llen(intake.BUFFER) == 0 else None

    rows = wait_for(audited, timeout=30, message="the drain task to audit every notification")
    ours = [o for a, o in rows if a == str(user["accountId"])]
    assert ("999999", "ignored") in rows
    assert ours.count("ignored") == 2  # /email/tracking, and /contacts: not synced for alice
    assert "enqueued" in ours and set(ours) <= {"enqueued", "coalesced", "ignored"}

    def synced():
        st = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]
        return st["runs"] >= 1 and st["state"] in ("idle", "queued")

    wait_for(synced, timeout=60, message="the buffered notifications to run a sync")
    assert "brightsync.sync.intake.drain" in clean_stack.worker.log()


def test_a_lost_drain_task_is_made_good_by_the_sweeper(clean_stack):
    if not clean_stack.env["CELERY_BROKER_URL"].startswith("redis"):
        pytest.skip("the fast intake is for Redis brokers")
    import redis
    from sqlalchemy import select

    from brightsync.db import session_scope
    from brightsync.models import Notification
    from brightsync.sync import intake
    from brightsync.sync.jobs import sweep_runs

    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "alice@acme.com")
    note = json.loads(_note(user["accountId"], 1))
    client = redis.Redis.from_url(clean_stack.env["REDIS_URL"])
    # As a notification accepted just before its drain task died with a worker: buffered, and
    # the "drain queued" flag already lapsed. No further webhook arrives.
    client.rpush(intake.BUFFER, json.dumps(intake.entry(note, "lost-drain-digest")))
    client.delete(intake.FLAG)
    sweep_runs()

    def audited():
        with session_scope() as s:
            return s.scalar(
                select(Notification.outcome).where(Notification.digest == "lost-drain-digest")
            )

    assert wait_for(audited, timeout=30, message="the sweeper to drain the stalled buffer")
    assert client.llen(intake.BUFFER) == 0
