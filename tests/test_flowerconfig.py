"""Flower never starts without credentials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import runpy; print(runpy.run_path('flowerconfig.py')['basic_auth'])"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PATH": "/usr/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_refuses_without_credentials():
    result = _load({})
    assert result.returncode != 0
    assert "refuses to start without credentials" in result.stderr


def test_uses_explicit_credentials_or_the_admin_token():
    assert _load({"FLOWER_BASIC_AUTH": "ops:pw,ro:pw2"}).stdout.strip() == "['ops:pw', 'ro:pw2']"
    assert _load({"BRIGHTSYNC_ADMIN_TOKEN": "tok"}).stdout.strip() == "['admin:tok']"
