"""Every worker SIGKILLed mid-run three times while 40 mails flow and the CRM answers 500s, then
a 429 storm with Retry-After: all mail is in the CRM within 2 minutes of the last restart,
each exactly once (counted by rfc822MsgId), on both backends.

Leases and sweeps are shortened here (10 s / 3 s) to keep the suite fast; the production
defaults (60 s / 30 s) are measured by bench/crash_recovery.py.
"""

from __future__ import annotations

from tests.conftest import WorkerProcess
from tests.support import crash_scenario

FAST = {"BRIGHTSYNC_LEASE_SECONDS": "10", "BRIGHTSYNC_SWEEP_SECONDS": "3"}


def test_killed_workers_recover_every_mail_exactly_once(clean_stack):
    stack = clean_stack
    assert stack.worker is not None
    stack.worker.stop()  # only the fleet under test may work
    try:
        outcome = crash_scenario.run(stack, kills=3, mails=40, limit=120, env=FAST)
    finally:
        stack.worker = WorkerProcess(stack.env, stack.backend.workdir, "main")
    figures = crash_scenario.describe(outcome)
    print("crash recovery:", figures)
    assert outcome.killed_mid_run >= 2, figures  # the kills hit work in progress
    assert outcome.missing == 0, (figures, outcome.per_message)
    assert outcome.duplicates == 0, (figures, outcome.per_message)
    assert outcome.converge_seconds is not None and outcome.converge_seconds <= 120, figures
