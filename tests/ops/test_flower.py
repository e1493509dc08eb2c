"""Flower, started for real from a directory without flowerconfig.py, asks for credentials."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import clean_environ

pytestmark = pytest.mark.integration  # a real Flower process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flower(tmp_path, extra: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {
        **{k: v for k, v in clean_environ().items() if k != "FLOWER_BASIC_AUTH"},
        "BRIGHTSYNC_INSTANCE_PATH": str(tmp_path / "instance"),
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        **extra,
    }
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "brightsync",
        "flower",
        f"--port={port}",
        "--address=127.0.0.1",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, port


def test_flower_started_anywhere_requires_basic_auth(tmp_path):
    assert not (tmp_path / "flowerconfig.py").exists()
    proc, port = _flower(tmp_path, {"BRIGHTSYNC_ADMIN_TOKEN": "flower-test-token"})
    try:
        deadline = time.time() + 60
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "flower did not start"
                time.sleep(0.3)
        assert r.status_code == 401
        assert (
            requests.get(
                f"http://127.0.0.1:{port}/", auth=("admin", "wrong"), timeout=5
            ).status_code
            == 401
        )
        ok = requests.get(
            f"http://127.0.0.1:{port}/workers", auth=("admin", "flower-test-token"), timeout=10
        )
        assert ok.status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_flower_without_credentials_does_not_start(tmp_path):
    env_token = {k: "" for k in ("BRIGHTSYNC_ADMIN_TOKEN", "FLOWER_BASIC_AUTH")}
    proc, _ = _flower(tmp_path, env_token)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "refuses to start without credentials" in out
