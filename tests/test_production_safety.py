"""Production safety: a shared encryption key on server databases, several keys with rotation,
and CRM credentials only over https (loopback excepted unless allowed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from brightsync.config import ConfigError, load_settings
from tests.conftest import ADMIN_TOKEN, apply_env, clean_environ

OLD = "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c="  # the unit fixtures' key
NEW = Fernet.generate_key().decode()
PG = "postgresql://u@db.internal:5432/prod"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_server_database_refuses_to_start_without_a_key():
    with pytest.raises(ConfigError, match="BRIGHTSYNC_ENCRYPTION_KEY must be set"):
        load_settings({"DATABASE_URL": PG})
    assert load_settings({"DATABASE_URL": PG, "BRIGHTSYNC_ENCRYPTION_KEY": OLD}).encryption_keys
    # The embedded default still generates its own key on first start.
    assert load_settings({"DATABASE_URL": "sqlite:///x.db"}).encryption_keys == []


def test_several_keys_are_accepted_and_each_is_checked():
    s = load_settings({"DATABASE_URL": PG, "BRIGHTSYNC_ENCRYPTION_KEY": f" {NEW} , {OLD} "})
    assert s.encryption_keys == [NEW, OLD]
    with pytest.raises(ConfigError, match="key #2 is not a urlsafe-base64 32-byte Fernet key"):
        load_settings({"DATABASE_URL": PG, "BRIGHTSYNC_ENCRYPTION_KEY": f"{NEW},nope"})


def test_the_command_line_names_the_missing_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "brightsync", "db", "upgrade"],
        env={**clean_environ(), "DATABASE_URL": PG},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error: BRIGHTSYNC_ENCRYPTION_KEY must be set" in result.stderr
    assert "Traceback" not in result.stderr


def _secrets() -> list[str]:
    from brightsync.db import session_scope
    from brightsync.models import Organisation, User

    with session_scope() as s:
        return [o.crm_secret_enc for o in s.query(Organisation)] + [
            u.access_token_enc for u in s.query(User)
        ]


def test_keys_rotate_reencrypts_every_secret_and_is_safe_to_rerun(unit_env, tmp_path):
    from brightsync.crypto import decrypt, decrypt_json
    from brightsync.keys import rotate_stored_secrets
    from tests.factories import make_org, make_user

    org_id = make_org()
    for name in ("alice", "bob", "carol"):
        make_user(org_id, name)
    before = _secrets()

    # New key first, the old one kept for reading: everything still reads, nothing rotated yet.
    apply_env({**unit_env, "BRIGHTSYNC_ENCRYPTION_KEY": f"{NEW},{OLD}"})
    assert decrypt(before[1]) == "tok"
    report = rotate_stored_secrets(batch=2)  # several batches
    assert report.as_dict() == {"rotated": 4, "alreadyCurrent": 0, "unreadable": []}
    after = _secrets()
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert rotate_stored_secrets().as_dict() == {
        "rotated": 0,
        "alreadyCurrent": 4,
        "unreadable": [],
    }
    assert _secrets() == after  # the re-run wrote nothing

    # The old key can go: the new one alone reads everything.
    apply_env({**unit_env, "BRIGHTSYNC_ENCRYPTION_KEY": NEW})
    assert decrypt_json(after[0]) == {"token": "t"}
    assert {decrypt(t) for t in after[1:]} == {"tok"}

    # Through the command, as an operator runs it: with an unknown key it says what it cannot
    # read and fails; with the right keys it reports and succeeds.
    env = {
        **clean_environ(),
        **unit_env,
        "BRIGHTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    cmd = [sys.executable, "-m", "brightsync", "keys", "rotate"]
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 1
    assert "4 secret(s) could not be decrypted" in bad.stderr
    env["BRIGHTSYNC_ENCRYPTION_KEY"] = f"{OLD},{NEW}"
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rotated"] == 4


def crm(url: str) -> dict:
    return {"baseUrl": url, "authType": "bearer", "token": "t"}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://crm.example.com/api", True),
        ("http://127.0.0.1:8002", True),
        ("http://localhost:8002", True),
        ("http://[::1]:8002", True),
        ("http://crm.example.com/api", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_crm_base_url_must_be_https_except_on_loopback(client, url, allowed):
    body = {"name": "Acme", "domains": ["acme.com"], "crm": crm(url)}
    r = client.post("/api/v1/orgs", json=body, headers=AUTH)
    if allowed:
        assert r.status_code == 201, r.get_json()
        return
    assert r.status_code == 400
    assert "https" in r.get_json()["fields"]["crm"]["baseUrl"][0]
    r = client.post("/api/v1/orgs", json={**body, "crm": crm("https://x.example")}, headers=AUTH)
    r = client.patch(f"/api/v1/orgs/{r.get_json()['id']}", json={"crm": crm(url)}, headers=AUTH)
    assert r.status_code == 400
    assert "BRIGHTSYNC_ALLOW_INSECURE_CRM" in r.get_json()["fields"]["crm"]["baseUrl"][0]


def test_plain_http_crm_when_the_operator_allows_it(unit_env):
    from brightsync.web import create_app

    apply_env({**unit_env, "BRIGHTSYNC_ALLOW_INSECURE_CRM": "true"})
    body = {"name": "Acme", "domains": ["acme.com"], "crm": crm("http://crm.internal:8080")}
    r = create_app().test_client().post("/api/v1/orgs", json=body, headers=AUTH)
    assert r.status_code == 201, r.get_json()
    with pytest.raises(ConfigError, match="BRIGHTSYNC_ALLOW_INSECURE_CRM must be true or false"):
        load_settings({"BRIGHTSYNC_ALLOW_INSECURE_CRM": "maybe"})
