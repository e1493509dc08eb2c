"""GET /metrics: counters from any process, webhook outcomes, and a scrape that stays cheap."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from sqlalchemy import event, update

from brightsync.db import get_engine, session_scope
from brightsync.models import User
from brightsync.ops import gauges, metrics
from brightsync.signing import signed_headers
from tests.conftest import SIGNING_SECRET
from tests.factories import make_org, make_user


def _child_increments(env: dict[str, str]) -> None:
    from tests.conftest import apply_env

    apply_env(env)
    metrics.record_run("email", "ok", 3.0, {"logged": 4, "skipped_bulk": 2, "unmatched": 1})
    metrics.api_call("crm", "crm.example:443", 503)
    metrics.flush()


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in\n{text}")


def test_counters_from_another_process_and_webhook_outcomes(client, unit_env):
    org_id = make_org()
    make_user(org_id, "alice", account_id="42")
    # Another OS process counts work; this one serves the scrape.
    proc = multiprocessing.get_context("spawn").Process(target=_child_increments, args=(unit_env,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0

    body = json.dumps(
        {
            "subscription": 1,
            "resource": "/calendars/primary/events",
            "accountId": 42,
            "payloads": [],
        }
    ).encode()
    headers = {**signed_headers(SIGNING_SECRET, body), "Content-Type": "application/json"}
    assert client.post("/webhooks/aurinko", data=body, headers=headers).status_code == 200
    bad = {**signed_headers("wrong-secret", body), "Content-Type": "application/json"}
    assert client.post("/webhooks/aurinko", data=body, headers=bad).status_code == 401
    assert client.post("/webhooks/aurinko", data=body, headers=bad).status_code == 401

    gauges.reset_gauge_cache()
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.get_data(as_text=True)
    assert _value(text, 'brightsync_webhooks_received_total{outcome="ignored"}') == 1
    assert _value(text, 'brightsync_webhooks_rejected_total{reason="signature_mismatch"}') == 2
    assert _value(text, 'brightsync_sync_runs_total{outcome="ok",service="email"}') == 1
    assert _value(text, 'brightsync_sync_run_seconds_count{service="email"}') == 1
    assert _value(text, 'brightsync_sync_run_seconds_bucket{le="5.0",service="email"}') == 1
    assert _value(text, 'brightsync_sync_run_seconds_bucket{le="2.5",service="email"}') == 0
    records = 'brightsync_records_total{outcome="%s",reason="%s",service="email"}'
    assert _value(text, records % ("synced", "logged")) == 4
    assert _value(text, records % ("skipped", "bulk")) == 2
    assert _value(text, records % ("cached", "no matching contact")) == 1
    errors = 'brightsync_api_errors_total{api="crm",host="crm.example:443",reason="503"}'
    assert _value(text, errors) == 1
    assert _value(text, 'brightsync_queue_depth{queue="intake"}') == 0
    assert _value(text, "brightsync_mailboxes_needing_reauth") == 0
    assert "# TYPE brightsync_sync_run_seconds histogram" in text
    assert all(line.startswith(("#", "brightsync_")) for line in text.splitlines() if line)


def test_a_scrape_never_reads_the_work_tables(client, unit_env, monkeypatch):
    # The integration backends set a zero gauge lifetime for the whole session; not here.
    monkeypatch.setenv("BRIGHTSYNC_METRICS_GAUGE_SECONDS", "60")
    client.get("/metrics")  # warms the per-minute gauges
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert client.get("/metrics").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    reads = [s for s in statements if s.lstrip().startswith("select")]
    assert reads, "the scrape reads the counter table"
    for statement in reads:
        assert "metric_counter" in statement, statement
    for table in ("email_claim", "notification", "email_sighting", "unmatched_item", "sync_state"):
        assert not any(table in s for s in statements), table


def test_exposition_format_is_prometheus_text():
    text = metrics.exposition(
        [
            ("brightsync_sync_run_seconds_bucket", 'le="+Inf",service="email"', 2),
            ("brightsync_sync_run_seconds_bucket", 'le="10.0",service="email"', 1),
            ("brightsync_sync_run_seconds_sum", 'service="email"', 7.5),
            ("brightsync_sync_run_seconds_count", 'service="email"', 2),
            ("brightsync_webhooks_rejected_total", metrics.render_labels({"reason": 'a"b'}), 1),
        ]
    )
    lines = text.splitlines()
    assert lines.count("# TYPE brightsync_sync_run_seconds histogram") == 1
    le10 = lines.index('brightsync_sync_run_seconds_bucket{le="10.0",service="email"} 1.0')
    inf = lines.index('brightsync_sync_run_seconds_bucket{le="+Inf",service="email"} 2.0')
    assert le10 < inf
    assert 'brightsync_webhooks_rejected_total{reason="a\\"b"} 1.0' in lines
    assert metrics.record_classification("skipped_internal") == ("skipped", "internal")
    assert metrics.record_classification("body_loads") is None


@pytest.fixture
def session_backend_env(monkeypatch):
    """What a session-wide integration backend leaves in the environment while it lives."""
    monkeypatch.setenv("BRIGHTSYNC_METRICS_GAUGE_SECONDS", "0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("AURINKO_API_URL", "http://127.0.0.1:1")


def test_a_unit_backend_borrows_nothing_from_a_live_session_backend(session_backend_env, unit_env):
    from brightsync.config import get_settings

    # Fixtures are set up in argument order: the session backend's settings were there first.
    assert gauges.gauge_ttl() == 60
    assert not get_settings().redis_url
    assert "AURINKO_API_URL" not in os.environ


def test_switching_settings_forgets_gauges_and_increments_of_the_previous_setup(
    client, unit_env, tmp_path
):
    from brightsync.migrate import upgrade
    from tests.conftest import apply_env

    client.get("/metrics")  # gauges counted (and kept for a minute) in the first database
    metrics.inc("brightsync_lease_takeovers_total", {"service": "email"})  # not yet flushed

    apply_env({**unit_env, "DATABASE_URL": f"sqlite:///{tmp_path}/other.db"})
    upgrade()
    make_user(make_org(), "bob")
    with session_scope() as s:
        s.execute(update(User).values(mailbox_state="reauth_required"))
    text = metrics.scrape()
    assert _value(text, "brightsync_mailboxes_needing_reauth") == 1
    assert "brightsync_lease_takeovers_total{" not in text
