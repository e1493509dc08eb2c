"""Structured logs: one JSON object per line with the ids in play, and no secret ever printed."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from brightsync.ops import hooks, logs
from tests.conftest import ADMIN_TOKEN


@pytest.fixture
def json_log(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    stream = io.StringIO()
    handler = logs.prepare(logging.StreamHandler(stream))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines, stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_request_and_task_ids_on_every_line(client, json_log):
    from tests.factories import make_org, make_user

    lines, _ = json_log
    org_id = make_org()
    uid = make_user(org_id, "alice")
    r = client.post(
        "/webhooks/aurinko",
        data=b"{}",
        headers={"X-Request-ID": "req-123", "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and r.headers["X-Request-ID"] == "req-123"
    rejected = [x for x in lines() if "webhook rejected" in x["event"]]
    assert rejected and rejected[0]["request_id"] == "req-123"
    assert rejected[0]["level"] == "warning" and rejected[0]["logger"] == "brightsync.web.webhooks"

    task = SimpleNamespace(name="brightsync.sync.run")
    hooks._task_prerun(task_id="task-9", task=task, args=[uid, "email"], kwargs={})
    logging.getLogger("brightsync.email.mailbox").info("page handled")
    hooks._task_postrun(
        task_id="task-9",
        task=task,
        args=[uid, "email"],
        kwargs={},
        retval={"status": "busy"},
        state="SUCCESS",
    )
    logging.getLogger("brightsync").info("after the task")
    during, after = [x for x in lines() if x["event"] in ("page handled", "after the task")]
    assert {k: during[k] for k in ("org_id", "user_id", "task_id", "service")} == {
        "org_id": org_id,
        "user_id": uid,
        "task_id": "task-9",
        "service": "email",
    }
    assert "task_id" not in after and "user_id" not in after


def test_tokens_and_secrets_never_reach_the_output(unit_env, json_log):
    lines, stream = json_log
    access = "ya29.A0ARrdaM-secret-access-token"
    crm = "crm-live-token-5f1e"
    log = logging.getLogger("brightsync.clients.http")
    log.warning("GET https://api.aurinko.io/v1 with Authorization: Bearer %s failed", access)
    log.info('connector answered {"token": "%s", "id": 4}', crm)
    log.info("configured admin token is %s", ADMIN_TOKEN)
    try:
        raise RuntimeError(f"refused: password={crm}")
    except RuntimeError:
        log.exception("call failed")
    out = stream.getvalue()
    for secret in (access, crm, ADMIN_TOKEN):
        assert secret not in out
    assert out.count(logs.REDACTED) >= 4
    assert len(lines()) == 4 and "exception" in lines()[-1]
    # Ordinary text is left alone.
    assert logs.redact("logged 3 emails for alice@acme.com", []) == (
        "logged 3 emails for alice@acme.com"
    )
