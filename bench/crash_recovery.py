"""Crash-recovery benchmark: every worker SIGKILLed N times mid-run, on both backends.

Two worker processes (and beat, for the sweepers) log mail from four customers into two
mailboxes while the reference CRM answers 500s and then a 429 storm with Retry-After. The
workers' whole process groups are SIGKILLed N times while runs are in progress, then
restarted. Printed per backend: seconds from the last restart until every mail is in the CRM,
duplicates and missing mails (counted by rfc822MsgId), next to the baseline of the same
scenario without kills, measured in the same run. Production lease and sweep periods
(60 s / 30 s) unless given.

    python bench/crash_recovery.py [--kills 3] [--mails 40] [--backends embedded,postgres]
        [--lease 60] [--sweep 30]

PostgreSQL + Redis come from BRIGHTSYNC_TEST_PG / BRIGHTSYNC_TEST_REDIS (as for the tests).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(backend_name: str, kills: int, mails: int, env: dict[str, str], limit: float):
    from brightsync.migrate import upgrade
    from tests.conftest import apply_env, destroy_backend, make_backend, reset_stack, running_stack
    from tests.support import crash_scenario

    saved = dict(os.environ)
    backend = make_backend(backend_name)
    try:
        apply_env(backend.env)
        upgrade()
        results = []
        with running_stack(backend, worker=False) as stack:
            for n in (0, kills):
                reset_stack(stack)
                outcome = crash_scenario.run(stack, kills=n, mails=mails, limit=limit, env=env)
                results.append(outcome)
        return results
    finally:
        destroy_backend(backend)
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--backends", default="embedded,postgres")
    parser.add_argument("--lease", type=int, default=60, help="BRIGHTSYNC_LEASE_SECONDS")
    parser.add_argument("--sweep", type=int, default=30, help="BRIGHTSYNC_SWEEP_SECONDS")
    parser.add_argument("--limit", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    env = {"BRIGHTSYNC_LEASE_SECONDS": str(args.lease), "BRIGHTSYNC_SWEEP_SECONDS": str(args.sweep)}
    print(
        f"{args.mails} mails, 2 workers x 2 processes, lease {args.lease}s, sweep {args.sweep}s; "
        "CRM: 12 x 500, then 429 storms (Retry-After: 1)"
    )
    print(
        f"{'backend':<10} {'kills':<14} {'all logged after last (re)start':>32} {'dup':>4} "
        f"{'miss':>5}"
    )
    for name in args.backends.split(","):
        for outcome in measure(name.strip(), args.kills, args.mails, env, args.limit):
            took = (
                f"{outcome.converge_seconds:.1f} s"
                if outcome.converge_seconds is not None
                else f"> {args.limit:.0f} s"
            )
            label = "0 (baseline)" if outcome.kills == 0 else str(outcome.kills)
            print(f"{name:<10} {label:<14} {took:>32} {outcome.duplicates:>4} {outcome.missing:>5}")


if __name__ == "__main__":
    main()
