"""Registration answers at once with the web process run as the Procfile runs it (gunicorn, one
sync worker); a real worker creates the subscriptions, whose handshake reaches that worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from brightsync.sandbox.aurinko import SandboxControl
from tests.conftest import ADMIN_TOKEN, REPO, WorkerProcess, wait_for
from tests.support.helpers import make_org

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn "brightsync.web:create_app()"` with ONE sync worker, as a real process."""

    def __init__(self, env: dict[str, str], log_path) -> None:
        self.url = env["BRIGHTSYNC_PUBLIC_URL"]
        port = self.url.rsplit(":", 1)[1]
        cmd = [sys.executable, "-m", "gunicorn", "brightsync.web:create_app()"]
        cmd += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync"]
        self.log_path = log_path
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=open(log_path, "w"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(self._up, timeout=60, message="gunicorn to answer")
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(self.log_path.read_text())
        try:
            return requests.get(self.url + "/api/v1/openapi.json", timeout=10).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def procfile_web(clean_stack, tmp_path):
    """The stack with its web process replaced by gunicorn (1 sync worker) and a worker whose
    notification URL points at it; the stack's own worker is restored afterwards."""
    env = {**clean_stack.env, "BRIGHTSYNC_PUBLIC_URL": f"http://127.0.0.1:{free_port()}"}
    clean_stack.worker.stop()
    web = worker = None
    try:
        web = Gunicorn(env, tmp_path / "gunicorn.log")
        worker = WorkerProcess(env, clean_stack.backend.workdir, "registration")
        yield clean_stack, web
    finally:
        for proc in (worker, web):
            if proc is not None:
                proc.stop()
        clean_stack.worker = WorkerProcess(clean_stack.env, clean_stack.backend.workdir, "main")


def register(base_url: str, org_id: int, account: dict) -> tuple[requests.Response, float]:
    started = time.monotonic()
    r = requests.post(
        f"{base_url}/api/v1/orgs/{org_id}/users",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={
            "email": account["email"],
            "aurinkoAccountId": account["id"],
            "aurinkoAccessToken": account["accessToken"],
            "services": ["email", "calendar"],
        },
        timeout=60,
    )
    return r, time.monotonic() - started


def test_registration_with_one_sync_gunicorn_worker(procfile_web):
    stack, web = procfile_web
    control = SandboxControl(stack.aurinko_url)
    org_id = make_org(stack)
    accounts = [
        control.add_account(email=f"{n}@acme.com", provider="imap") for n in ("ann", "ben", "cyd")
    ]
    ann, ben, cyd = accounts
    # ann: Aurinko is briefly unavailable (a Retry-After too long to sleep through in-task);
    # cyd: Aurinko refuses the subscription outright.
    control.fault(
        "/v1/subscriptions", status=503, retry_after=120, method="POST", account_id=ann["id"]
    )
    control.fault("/v1/subscriptions", status=400, count=None, method="POST", account_id=cyd["id"])

    # Two registrations at once, then a third: each answers at once (it used to take 30 s
    # and fail: the handshake waited on the one busy worker).
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda a: register(web.url, org_id, a), [ann, ben]))
    answers.append(register(web.url, org_id, cyd))
    users = {}
    for account, (r, took) in zip(accounts, answers, strict=True):
        assert r.status_code == 201, r.text
        assert took < 5, f"registration took {took:.1f}s"
        body = r.json()
        assert {s["service"] for s in body["subscriptions"]} == {"email", "calendar"}
        assert all(s["state"] in ("pending", "active") for s in body["subscriptions"])
        users[account["email"]] = body["id"]

    def subs(email: str) -> dict[str, dict]:
        user = stack.admin("GET", f"/api/v1/users/{users[email]}").json()
        assert {s["service"] for s in user["subscriptions"]} == {"email", "calendar"}
        return {s["service"]: s for s in user["subscriptions"]}

    # ann's transient failure is visible while the task waits to retry, then it succeeds.
    retrying = wait_for(
        lambda: [s for s in subs("ann@acme.com").values() if "retrying" in (s["lastError"] or "")],
        timeout=20,
        message="ann's retry to be visible",
    )
    assert retrying[0]["state"] == "pending"
    for email in ("ann@acme.com", "ben@acme.com"):
        wait_for(
            lambda e=email: all(s["state"] == "active" for s in subs(e).values()),
            timeout=40,
            message=f"{email}'s subscriptions to become active",
        )
    refused = wait_for(
        lambda: (
            all(s["state"] == "failed" for s in subs("cyd@acme.com").values())
            and subs("cyd@acme.com")
        ),
        timeout=20,
        message="cyd's refusal to be recorded",
    )
    assert all("400" in s["lastError"] for s in refused.values()), refused

    # Every live subscription was verified through the gunicorn worker's handshake, and no
    # service got two (a retry looks before it creates again).
    live = control.subscriptions()
    mine = [s for s in live if s["accountId"] in (ann["id"], ben["id"])]
    assert len(mine) == 4, live
    assert {s["notificationUrl"] for s in mine} == {web.url + "/webhooks/aurinko"}
    assert {s["id"] for s in mine} == {
        int(s["id"]) for e in ("ann@acme.com", "ben@acme.com") for s in subs(e).values()
    }

    # The periodic check still repairs what failed once Aurinko accepts again.
    control.clear_faults()
    from brightsync.sync.jobs import check_subscriptions

    assert check_subscriptions() == 2
    assert all(s["state"] == "active" for s in subs("cyd@acme.com").values())
    assert check_subscriptions() == 0  # nothing left to do: no duplicates
