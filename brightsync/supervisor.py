"""Child processes that start together and stop together, within a grace period.

`brightsync run` starts web, worker and beat under one `Supervisor`. Each child leads its
own process group, so the stop reaches what the child itself started (gunicorn's workers,
the Celery pool) and a terminal's Ctrl-C reaches only the supervisor, which then stops
every child in order instead of each one hearing the signal on its own.

A stop sends SIGTERM to every child (gunicorn and Celery shut down warm: the worker
finishes its running tasks). A Celery warm shutdown waits for running tasks as long as
they take (up to the 30-minute task time limit), so at three quarters of the grace period
a child still running gets its "hurry" signal (SIGQUIT: a cold shutdown, in which the
worker cancels its unfinished late-acknowledged tasks and hands their messages back). At
the end of the grace period whatever is left of each group is SIGKILLed; that too is
safe for tasks (acks_late, reject_on_worker_lost, and the sweepers republish runs and
claims whose worker died).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

# What ends `brightsync run`: Ctrl-C, `docker stop`/systemd/`timeout`, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(Exception):
    """Raised in the main thread when a stop signal arrives."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    # Sent when the child outlives most of the grace period; None: wait for the SIGKILL.
    hurry: signal.Signals | None = None
    hurried: bool = field(default=False, init=False)


def _raise_stop(signum: int, _frame: object) -> None:
    raise StopRequested(signal.Signals(signum).name)


class Supervisor:
    """Start children; on a stop signal or when one child exits, stop them all."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.children: list[Child] = []
        self._previous: dict[int, object] = {}

    def start(
        self, name: str, cmd: Sequence[str], env: dict[str, str], hurry: signal.Signals | None
    ) -> None:
        # process_group=0: the child leads a new group inside our session.
        proc = subprocess.Popen(list(cmd), env=env, process_group=0)
        self.children.append(Child(name, proc, hurry))

    def wait(self, poll_seconds: float = 0.5) -> tuple[str, bool]:
        """Block until a stop signal arrives or a child exits: (what happened, for the log;
        whether it was a child exiting on its own)."""
        self._previous = {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
        try:
            while True:
                for child in self.children:
                    code = child.proc.poll()
                    if code is not None:
                        return f"{child.name} exited with {code}", True
                time.sleep(poll_seconds)
        except StopRequested as stop:
            return f"{stop} received", False
        finally:
            # The stop itself must not be cut short by a second Ctrl-C or SIGTERM; it is
            # bounded by the grace period anyway; stop() puts the handlers back.
            for sig in self._previous:
                signal.signal(sig, signal.SIG_IGN)

    def stop(self) -> None:
        """SIGTERM every child; hurry those left at 3/4 of the grace; SIGKILL their groups."""
        start = time.monotonic()
        hurry_at = start + self.grace_seconds * 0.75
        kill_at = start + self.grace_seconds
        for child in self.children:
            self._signal(child, signal.SIGTERM)
        while any(c.proc.poll() is None for c in self.children) and time.monotonic() < kill_at:
            if time.monotonic() >= hurry_at:
                for child in self.children:
                    if child.hurry and not child.hurried and child.proc.poll() is None:
                        child.hurried = True
                        self._signal(child, child.hurry)
            time.sleep(0.1)
        # Also the groups of children that did exit: a gunicorn worker or a pool process
        # whose parent died first would otherwise be left behind.
        for child in self.children:
            _killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    @staticmethod
    def _signal(child: Child, sig: signal.Signals) -> None:
        if child.proc.poll() is None:
            child.proc.send_signal(sig)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already
