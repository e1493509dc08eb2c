"""The `brightsync` command as an operator uses it, in a fresh working directory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from brightsync.sandbox.aurinko import create_aurinko_app
from brightsync.sandbox.crm import create_crm_app
from brightsync.sandbox.server import ServerThread
from tests.conftest import CRM_TOKEN, clean_environ

pytestmark = pytest.mark.integration  # the brightsync command in real processes


@pytest.fixture
def sandbox():
    aurinko = ServerThread(create_aurinko_app()).start()
    crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
    yield aurinko.url, crm.url
    aurinko.stop()
    crm.stop()


def _head() -> str:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import brightsync.migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(brightsync.migrations.__file__).parent))
    return ScriptDirectory.from_config(cfg).get_current_head()


def run(tmp_path, *args, env=None):
    base = clean_environ()
    return subprocess.run(
        [sys.executable, "-m", "brightsync", *args],
        cwd=tmp_path,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_alice(tmp_path, aurinko_url: str, org_id, env, **account):
    """alice@acme.com: an account on the simulator, then `brightsync user add` for it;
    (the account, the command's result)."""
    acct = requests.post(
        aurinko_url + "/_control/accounts",
        timeout=10,
        json={"email": "alice@acme.com", **account},
    ).json()
    user = run(
        tmp_path,
        "user",
        "add",
        "--org",
        str(org_id),
        "--email",
        "alice@acme.com",
        "--account-id",
        str(acct["id"]),
        "--token",
        acct["accessToken"],
        env=env,
    )
    return acct, user


def test_operator_flow_from_a_shell(tmp_path, sandbox):
    aurinko_url, crm_url = sandbox
    # A public URL nothing answers at: no worker runs here, so subscriptions stay pending.
    env = {"AURINKO_API_URL": aurinko_url, "BRIGHTSYNC_PUBLIC_URL": "http://127.0.0.1:9"}
    up = run(tmp_path, "db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    assert f"database at revision {_head()}" in up.stdout
    assert (tmp_path / "instance" / "brightsync.db").exists()

    org = run(
        tmp_path,
        "org",
        "create",
        "--name",
        "Acme",
        "--domain",
        "acme.com",
        "--crm-url",
        crm_url,
        "--crm-token",
        CRM_TOKEN,
        env=env,
    )
    assert org.returncode == 0, org.stderr
    org_id = json.loads(org.stdout)["id"]

    acct, user = add_alice(tmp_path, aurinko_url, org_id, env, provider="imap")
    assert user.returncode == 0, user.stderr
    out = json.loads(user.stdout)
    # Recorded, not yet created: a worker creates it once the registration is committed.
    assert out["subscriptions"][0]["state"] == "pending"
    assert acct["accessToken"] not in user.stdout

    requests.post(
        aurinko_url + "/_control/mail",
        timeout=10,
        json={
            "from": {"address": "erin@prospect.io"},
            "to": [{"address": "alice@acme.com"}],
            "subject": "hi",
            "body": "x",
            "bodyType": "text",
        },
    ).raise_for_status()
    sync = run(tmp_path, "sync", str(out["id"]), env=env)
    assert sync.returncode == 0, sync.stderr
    result = json.loads(sync.stdout)
    assert result["status"] == "ok" and result["counters"]["unmatched"] == 1

    retry = run(tmp_path, "unmatched", "retry", env=env)
    assert json.loads(retry.stdout)["waiting"] == 1
    expire = run(tmp_path, "unmatched", "expire", env=env)
    assert json.loads(expire.stdout) == {"expired": 0}

    # The person asks to be forgotten: the waiting mail goes from the sync cache.
    forgot = run(tmp_path, "org", "forget", str(org_id), "--email", "Erin@Prospect.io", env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert json.loads(forgot.stdout)["erased"]["syncCacheItems"] == 1
    # The mailbox leaves, then the organisation; a second removal is a clear error.
    gone = run(tmp_path, "user", "remove", str(out["id"]), env=env)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["removed"]["user_account"] == 1
    again = run(tmp_path, "user", "remove", str(out["id"]), env=env)
    assert again.returncode != 0 and "removed already" in again.stderr
    org_gone = run(tmp_path, "org", "remove", str(org_id), env=env)
    assert org_gone.returncode == 0, org_gone.stderr
    assert json.loads(org_gone.stdout)["removed"]["organisation"] == 1


def test_bad_input_is_a_clear_error(tmp_path):
    assert run(tmp_path, "db", "upgrade").returncode == 0
    bad = run(
        tmp_path,
        "org",
        "create",
        "--name",
        "Acme",
        "--domain",
        "nodot",
        "--crm-url",
        "not-a-url",
        "--crm-token",
        "t",
    )
    assert bad.returncode == 1
    assert "invalid input" in bad.stderr and "domains" in bad.stderr and "baseUrl" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run(tmp_path, "sync", "999")
    assert missing.returncode == 1 and "no user 999" in missing.stderr


def test_connector_check_from_the_shell(tmp_path, sandbox):
    _, crm_url = sandbox
    ok = run(tmp_path, "connector", "check", crm_url, "--token", CRM_TOKEN)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout and "FAIL" not in ok.stdout.replace("FAIL (optional)", "")


def test_sandbox_commands_serve_the_simulators(tmp_path):
    import socket
    import time

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    base = clean_environ()
    procs = []
    try:
        ports = {}
        for kind in ("aurinko", "crm"):
            ports[kind] = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "brightsync",
                        "sandbox",
                        kind,
                        "--port",
                        str(ports[kind]),
                    ],
                    cwd=tmp_path,
                    env=base,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        def up(url: str, **kw) -> requests.Response | None:
            for _ in range(100):
                try:
                    return requests.get(url, timeout=2, **kw)
                except requests.ConnectionError:
                    time.sleep(0.1)
            return None

        acct = up(f"http://127.0.0.1:{ports['aurinko']}/_control/accounts")
        assert acct is not None and acct.status_code == 200
        crm = up(
            f"http://127.0.0.1:{ports['crm']}/api/v1/contacts/lookup?emails=x@y.com",
            headers={"Authorization": f"Bearer {CRM_TOKEN}"},
        )
        assert crm is not None and crm.status_code == 200 and crm.json() == []
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def test_review_flow_from_a_shell(tmp_path, sandbox):
    aurinko_url, crm_url = sandbox
    env = {"AURINKO_API_URL": aurinko_url, "BRIGHTSYNC_PUBLIC_URL": "http://127.0.0.1:9"}
    assert run(tmp_path, "db", "upgrade", env=env).returncode == 0
    requests.post(
        crm_url + "/_control/seed",
        timeout=10,
        headers={"Authorization": f"Bearer {CRM_TOKEN}"},
        json={
            "contacts": [
                {
                    "id": "c-erin",
                    "firstName": "Erin",
                    "lastName": "P",
                    "emailAddresses": ["erin@prospect.io"],
                }
            ]
        },
    ).raise_for_status()
    org = run(
        tmp_path,
        "org",
        "create",
        "--name",
        "Acme",
        "--domain",
        "acme.com",
        "--crm-url",
        crm_url,
        "--crm-token",
        CRM_TOKEN,
        "--mode",
        "review",
        env=env,
    )
    assert org.returncode == 0, org.stderr
    org_id = json.loads(org.stdout)["id"]
    assert json.loads(org.stdout)["mode"] == "review"
    acct, user = add_alice(tmp_path, aurinko_url, org_id, env)
    user_id = json.loads(user.stdout)["id"]
    requests.post(
        aurinko_url + "/_control/mail",
        timeout=10,
        json={
            "from": {"address": "erin@prospect.io"},
            "to": [{"address": "alice@acme.com"}],
            "subject": "Pricing",
            "body": "x",
            "bodyType": "text",
        },
    ).raise_for_status()
    requests.post(crm_url + "/_control/stats/reset", timeout=10).raise_for_status()
    assert run(tmp_path, "sync", str(user_id), env=env).returncode == 0
    report = json.loads(run(tmp_path, "review", "report", "--org", str(org_id), env=env).stdout)
    [email] = report["emails"]["toLog"]
    assert email["subject"] == "Pricing" and email["matched"][0]["contactId"] == "c-erin"
    stats = requests.get(crm_url + "/_control/stats", timeout=10).json()["byOperation"]
    assert not [op for op in stats if op.endswith((".create", ".update", ".replace"))], stats

    # The stored position expired: the next review run starts from a fresh one.
    requests.post(
        f"{aurinko_url}/_control/accounts/{acct['id']}/expire-tokens", timeout=10, json={}
    ).raise_for_status()
    again = run(tmp_path, "sync", str(user_id), env=env)
    assert json.loads(again.stdout)["status"] == "ok", again.stdout + again.stderr
    report = json.loads(run(tmp_path, "review", "report", "--user", str(user_id), env=env).stdout)
    assert [e["subject"] for e in report["emails"]["toLog"]] == ["Pricing"]

    bad = run(tmp_path, "review", "report", env=env)
    assert bad.returncode != 0 and "--org or --user" in bad.stderr
    live = run(tmp_path, "review", "activate", "--org", str(org_id), env=env)
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout)["users"] == [user_id]
    done = json.loads(run(tmp_path, "sync", str(user_id), env=env).stdout)
    assert done["status"] == "ok" and done["counters"].get("logged") == 1, done
    held = json.loads(run(tmp_path, "review", "held", "--org", str(org_id), env=env).stdout)
    assert held == {"items": [], "total": 0}
