"""`brightsync run` stopped as `docker stop`, systemd and `timeout` stop it: SIGTERM to it alone.

Its web, worker and beat (and what they started: gunicorn's workers, the Celery pool) must
all be gone within the stop grace period; before, the worker was left orphaned in "Warm
shutdown" for half an hour.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_TOKEN, SIGNING_SECRET, clean_environ

pytestmark = pytest.mark.integration  # the brightsync command in real processes

GRACE_SECONDS = 8  # BRIGHTSYNC_STOP_GRACE's default, set explicitly below
MARGIN_SECONDS = 10  # interpreter exits on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_of(pid: int) -> int | None:
    """The session id of `pid` from /proc (None when it is gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    state, session = fields[0], int(fields[3])
    return None if state == "Z" else session


def _in_session(sid: int) -> list[int]:
    pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
    return sorted(pid for pid in pids if _session_of(pid) == sid)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def test_sigterm_stops_every_process_of_brightsync_run(tmp_path):
    port = _free_port()
    env = {
        **clean_environ(),
        "PORT": str(port),
        "BRIGHTSYNC_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/brightsync.db",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "AURINKO_SIGNING_SECRET": SIGNING_SECRET,
        "BRIGHTSYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "BRIGHTSYNC_STOP_GRACE": str(GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "run.log"
    # Its own session: every process it starts, however deep, carries this session id
    # unless it leaves the session itself, which none of web, worker and beat does.
    with open(log_path, "w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "brightsync", "run", "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sid = run.pid
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and not (healthy and "ready." in log_path.read_text()):
            assert run.poll() is None, f"brightsync run exited early:\n{log_path.read_text()}"
            try:
                healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
            except requests.RequestException:
                healthy = False
            time.sleep(0.5)
        assert healthy and "ready." in log_path.read_text(), log_path.read_text()
        # run, gunicorn master + 2 workers, worker + its pool process, beat: the last to
        # start may still be forking on a loaded machine.
        until = time.monotonic() + 30
        while len(started := _in_session(sid)) < 7 and time.monotonic() < until:
            time.sleep(0.5)
        assert len(started) >= 7, ([_cmdline(pid) for pid in started], log_path.read_text())

        run.send_signal(signal.SIGTERM)  # to `brightsync run` only, as docker stop does
        stop_deadline = time.monotonic() + GRACE_SECONDS + MARGIN_SECONDS
        left = _in_session(sid)
        while left and time.monotonic() < stop_deadline:
            time.sleep(0.2)
            left = _in_session(sid)
        assert not left, (
            f"left running {GRACE_SECONDS + MARGIN_SECONDS}s after SIGTERM: "
            f"{[_cmdline(pid) for pid in left]}\n{log_path.read_text()[-3000:]}"
        )
        assert run.wait(timeout=5) == 0
    finally:
        for pid in _in_session(sid):  # never leak a stack into the rest of the run
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if run.poll() is None:
            run.kill()
        run.wait()
