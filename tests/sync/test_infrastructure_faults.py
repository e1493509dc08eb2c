"""Redis loses everything twice and PostgreSQL drops every connection twice while 36 mails
go into 3 mailboxes: every mail is logged exactly once within 2 minutes of the last fault,
with no outside "sync now" (issue 20). Real workers and beat; leases and sweeps shortened
(10 s / 3 s) as in the crash test; bench/crash_recovery.py measures production periods.
"""

from __future__ import annotations

import pytest

from tests.conftest import WorkerProcess
from tests.support import crash_scenario, infra_scenario

FAST = {"BRIGHTSYNC_LEASE_SECONDS": "10", "BRIGHTSYNC_SWEEP_SECONDS": "3"}


def test_redis_and_postgres_faults_lose_and_double_nothing(clean_stack):
    stack = clean_stack
    if not infra_scenario.fault_plan(stack):
        pytest.skip("the embedded backend has no Redis nor PostgreSQL to fail")
    assert stack.worker is not None
    stack.worker.stop()  # only the fleet under test may work
    try:
        outcome = infra_scenario.run(stack, mails=36, limit=120, env=FAST)
    finally:
        stack.worker = WorkerProcess(stack.env, stack.backend.workdir, "main")
    figures = crash_scenario.describe(outcome)
    print("infrastructure faults:", figures)
    assert outcome.noticed >= outcome.faults.count("redis"), figures  # each loss was seen
    assert outcome.rebuilt >= 1, figures
    assert outcome.missing == 0, (figures, outcome.per_message)
    assert outcome.duplicates == 0, (figures, outcome.per_message)
    assert outcome.converge_seconds is not None and outcome.converge_seconds <= 120, figures
