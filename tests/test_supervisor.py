"""brightsync.supervisor with plain Python children: the stop is bounded by the grace period."""

from __future__ import annotations

import os
import signal
import sys
import time

from brightsync.supervisor import Supervisor

# Ignores SIGTERM (a worker whose warm shutdown waits for a long task); SIGQUIT ends it.
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGQUIT, lambda *a: sys.exit(3))\n"
    "time.sleep(60)\n"
)
# Ignores everything it can: only the SIGKILL at the end of the grace period ends it.
DEAF = (
    "import signal, time\n"
    "for s in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\n"
    "time.sleep(60)\n"
)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_stop_hurries_then_kills_within_the_grace():
    sup = Supervisor(grace_seconds=2)
    sup.start("stubborn", _python(STUBBORN), dict(os.environ), signal.SIGQUIT)
    sup.start("deaf", _python(DEAF), dict(os.environ), signal.SIGQUIT)
    sup.start("plain", _python("import time; time.sleep(60)"), dict(os.environ), None)
    time.sleep(1)  # let the children install their handlers
    began = time.monotonic()
    sup.stop()
    assert time.monotonic() - began < 2 + 1
    codes = {c.name: c.proc.returncode for c in sup.children}
    assert codes == {"stubborn": 3, "deaf": -signal.SIGKILL, "plain": -signal.SIGTERM}


def test_a_child_exiting_on_its_own_ends_the_wait():
    sup = Supervisor(grace_seconds=2)
    sup.start("short", _python("import sys; sys.exit(4)"), dict(os.environ), None)
    sup.start("long", _python("import time; time.sleep(60)"), dict(os.environ), None)
    reason, child_died = sup.wait(poll_seconds=0.05)
    sup.stop()
    assert child_died and reason == "short exited with 4"
    assert sup.children[1].proc.returncode == -signal.SIGTERM


def test_the_stop_signals_are_handled_as_before_afterwards():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sup = Supervisor(grace_seconds=1)
    sup.start("short", _python("pass"), dict(os.environ), None)
    sup.wait(poll_seconds=0.05)
    sup.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before
