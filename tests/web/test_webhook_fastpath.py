"""The webhook's WSGI fast path (brightsync.web.fastpath) answers exactly as the Flask route
does, on every intake path, and is the door real requests take, under gunicorn too."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
import requests
from werkzeug.test import Client

from brightsync.signing import signed_headers
from tests.conftest import (
    REPO,
    SIGNING_SECRET,
    apply_env,
    clean_environ,
    destroy_backend,
    make_backend,
    wait_for,
)
from tests.support.helpers import notification_body
from tests.support.intake_paths import PATHS, intake_path, redis_path
from tests.web.test_registration import free_port

URL = "/webhooks/aurinko"


@pytest.fixture(params=list(PATHS))
def app(request):
    """(env, app) on a fresh backend of one intake path, with one email user (account 42)."""
    from brightsync.web import create_app

    with intake_path(request.param) as env:
        yield env, create_app()


def _requests(door: str) -> list[tuple[bytes, dict[str, str]]]:
    """Valid, coalesced, replayed, unknown account, bad signature, stale, malformed and
    invalid requests (bodies distinct per door, so each door starts from the same state)."""
    valid = notification_body(42, 1, subscription=7)
    valid = valid.replace(b'"m1"', f'"{door}"'.encode())
    first = signed_headers(SIGNING_SECRET, valid)
    stale = signed_headers(SIGNING_SECRET, valid, timestamp=int(time.time()) - 400)
    other = notification_body(42, 2).replace(b'"m2"', f'"{door}2"'.encode())
    unknown = notification_body(999, 3).replace(b'"m3"', f'"{door}3"'.encode())
    invalid = json.dumps({"resource": "/email/messages", "accountId": [1]}).encode()
    out = [
        (valid, first),
        (other, signed_headers(SIGNING_SECRET, other)),
        (valid, first),  # a replay
        (unknown, signed_headers(SIGNING_SECRET, unknown)),
        (valid, signed_headers("wrong secret", valid)),
        (valid, stale),
        (valid, {}),
        (b"{not json", signed_headers(SIGNING_SECRET, b"{not json")),
        (b"[1]", signed_headers(SIGNING_SECRET, b"[1]")),
        (invalid, signed_headers(SIGNING_SECRET, invalid)),
    ]
    return [(body, {**h, "Content-Type": "application/json"}) for body, h in out]


def _answers(wsgi, door: str) -> list[tuple[int, bytes, str | None, list[str]]]:
    client = Client(wsgi)
    out = []
    for body, headers in _requests(door):
        r = client.post(URL, data=body, headers=headers)
        names = sorted(k for k, _ in r.headers if k != "X-Request-ID")
        assert r.headers["X-Request-ID"]
        out.append((r.status_code, r.get_data(), r.headers.get("Content-Type"), names))
    return out


def _forget_pending(env: dict[str, str]) -> None:
    """Back to the state before the first door's requests: no run pending, no drain queued."""
    from brightsync.db import session_scope
    from brightsync.models import SyncState
    from brightsync.sync import intake

    if redis_path(env):
        intake.drain()
    with session_scope() as s:
        s.query(SyncState).update({"pending_since": None, "state": "idle"})


def test_the_fast_path_answers_as_the_flask_route(app):
    env, flask_app = app
    fast = flask_app.wsgi_app
    flask_door = fast.app  # the Flask app's own wsgi_app, behind the fast path
    before = fast.taken
    through_fast = _answers(fast, "fast")
    assert fast.taken - before == len(_requests("x"))  # every one answered in front of Flask
    _forget_pending(env)
    through_flask = _answers(flask_door, "flask")
    assert fast.taken - before == len(_requests("x"))
    statuses = [a[0] for a in through_fast]
    assert statuses == [200, 200, 200, 200, 401, 401, 401, 400, 400, 400]
    assert through_fast == through_flask
    assert json.loads(through_fast[2][1]) == {"status": "duplicate"}
    assert json.loads(through_fast[5][1]) == {"error": "timestamp outside the allowed window"}


def test_odd_framing_goes_on_to_flask(app):
    _env, flask_app = app
    fast = flask_app.wsgi_app
    body = notification_body(42, 1)
    headers = {**signed_headers(SIGNING_SECRET, body), "Content-Type": "application/json"}
    client = Client(fast)
    taken = fast.taken
    r = client.post(
        URL + "?validationToken=abc", data=b"", headers=signed_headers(SIGNING_SECRET, b"")
    )
    assert r.status_code == 200 and r.get_data() == b"abc"
    assert client.post(URL, data=b"x" * 1_100_000, headers=headers).status_code == 413
    assert client.get(URL).status_code == 405
    assert fast.taken == taken  # all three answered by Flask


def probe_app():  # noqa: ANN201 - gunicorn app factory: the product app and a count
    """The product app with one more route telling how many webhooks the fast path took."""
    from brightsync.web import create_app

    app = create_app()
    app.add_url_rule("/test/fastpath-taken", "taken", lambda: str(app.wsgi_app.taken))
    return app


def procfile_web(app_spec: str, port: int) -> list[str]:
    """The Procfile's `web` command with one worker, the app swapped for `app_spec`."""
    line = next(x for x in (REPO / "Procfile").read_text().splitlines() if x.startswith("web:"))
    line = line.split(":", 1)[1].replace("${PORT:-5000}", str(port))
    argv = shlex.split(line.replace("${WEB_CONCURRENCY:-2}", "1").replace("0.0.0.0", "127.0.0.1"))
    return [sys.executable, "-m", *argv[:1], app_spec, *argv[2:]]


@pytest.mark.integration
def test_under_gunicorn_as_the_procfile_runs_it_the_fast_path_is_taken(tmp_path):
    from brightsync.migrate import upgrade
    from tests.factories import make_org, make_user

    saved = dict(os.environ)
    backend = make_backend("embedded")
    proc = None
    try:
        os.environ.clear()
        os.environ.update(clean_environ())
        apply_env(backend.env)
        upgrade()
        make_user(make_org(), "alice", account_id="42")
        port = free_port()
        cmd = procfile_web("tests.web.test_webhook_fastpath:probe_app()", port)
        log = open(tmp_path / "gunicorn.log", "w")
        env = {**os.environ, **backend.env, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                return requests.get(base + "/test/fastpath-taken", timeout=5).ok
            except requests.RequestException:
                return False

        wait_for(up, timeout=60, message="gunicorn to answer")
        body = notification_body(42, 1)
        headers = {**signed_headers(SIGNING_SECRET, body), "Content-Type": "application/json"}
        r = requests.post(base + URL, data=body, headers=headers, timeout=10)
        assert r.json() == {"status": "enqueued", "service": "email"}
        assert requests.post(base + URL, data=body, headers=headers, timeout=10).json() == {
            "status": "duplicate"
        }
        bad = requests.post(base + URL, data=body, headers={"X-Aurinko-Signature": "0"}, timeout=10)
        assert bad.status_code == 401 and bad.json()["error"] == "missing signature headers"
        assert requests.get(base + "/test/fastpath-taken", timeout=5).text == "3"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        destroy_backend(backend)
        os.environ.clear()
        os.environ.update(saved)
