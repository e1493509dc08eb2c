"""Crash-recovery benchmark, per backend and broker: workers SIGKILLed mid-run among lost CRM
answers, and the infrastructure itself failing.

`kills`: two worker processes (and beat, for the sweepers) log mail from four customers into
two mailboxes while the reference CRM first stores creates but loses their answers (502, or
none within the client's timeout), then answers 500s and a 429 storm with Retry-After. The
workers' whole process groups are SIGKILLed N times, then restarted. Printed: seconds from
the last restart until every mail is in the CRM, duplicates and missing mails (counted by
rfc822MsgId), how many kills hit work in progress of the live worker generation, next to the
baseline of the same scenario without kills, measured in the same run.

`infra`: 36 mails into three mailboxes while Redis loses its data twice (FLUSHDB and every
client cut off) and PostgreSQL drops every connection twice; seconds from the last fault
until every mail is in the CRM (backends with Redis or PostgreSQL only).

Production lease and sweep periods (60 s / 30 s) unless given.

    python bench/crash_recovery.py [--scenarios kills,infra] [--kills 3] [--mails 40]
        [--backends embedded,postgres,rabbitmq] [--lease 60] [--sweep 30]

PostgreSQL, Redis and RabbitMQ come from BRIGHTSYNC_TEST_PG / BRIGHTSYNC_TEST_REDIS /
BRIGHTSYNC_TEST_RABBITMQ (as for the tests); `rabbitmq` is PostgreSQL + RabbitMQ as the
broker + Redis for coordination.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(
    backend_name: str, scenarios: list[str], args: argparse.Namespace, env: dict[str, str]
) -> Iterator[tuple[str, Any]]:
    from brightsync.migrate import upgrade
    from tests.conftest import apply_env, destroy_backend, make_backend, reset_stack, running_stack
    from tests.support import crash_scenario, infra_scenario

    saved = dict(os.environ)
    backend = make_backend(backend_name)
    try:
        apply_env(backend.env)
        upgrade()
        with running_stack(backend, worker=False) as stack:
            if "kills" in scenarios:
                for n in (0, args.kills):
                    reset_stack(stack)
                    yield (
                        "kills",
                        crash_scenario.run(
                            stack, kills=n, mails=args.mails, limit=args.limit, env=env
                        ),
                    )
            if "infra" in scenarios and infra_scenario.fault_plan(stack):
                reset_stack(stack)
                yield "infra", infra_scenario.run(stack, mails=36, limit=args.limit, env=env)
    finally:
        destroy_backend(backend)
        os.environ.clear()
        os.environ.update(saved)


def took(seconds: float | None, limit: float) -> str:
    return f"{seconds:.1f} s" if seconds is not None else f"> {limit:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default="kills,infra")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--backends", default="embedded,postgres,rabbitmq")
    parser.add_argument("--lease", type=int, default=60, help="BRIGHTSYNC_LEASE_SECONDS")
    parser.add_argument("--sweep", type=int, default=30, help="BRIGHTSYNC_SWEEP_SECONDS")
    parser.add_argument("--limit", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    env = {"BRIGHTSYNC_LEASE_SECONDS": str(args.lease), "BRIGHTSYNC_SWEEP_SECONDS": str(args.sweep)}
    scenarios = [s.strip() for s in args.scenarios.split(",")]
    print(
        f"lease {args.lease}s, sweep {args.sweep}s. kills: {args.mails} mails, 2 workers x 2 "
        "processes; CRM: 6 lost answers (3 x stored then 502, 3 x stored then no answer), "
        "12 x 500, then 429 storms (Retry-After: 1). infra: 36 mails, 3 mailboxes, Redis "
        "flushed + clients cut x2, PostgreSQL connections dropped x2"
    )
    print(
        f"{'backend':<10} {'scenario':<16} {'all logged after last fault/restart':>36} "
        f"{'dup':>4} {'miss':>5} {'mid-run':>8}"
    )
    for name in args.backends.split(","):
        for scenario, o in measure(name.strip(), scenarios, args, env):
            if scenario == "kills":
                label = "0 kills (base)" if o.kills == 0 else f"{o.kills} kills"
                mid = f"{o.killed_mid_run}/{o.kills}"
            else:
                label, mid = f"infra, {len(o.faults)} faults", "-"
            print(
                f"{name:<10} {label:<16} {took(o.converge_seconds, args.limit):>36} "
                f"{o.duplicates:>4} {o.missing:>5} {mid:>8}"
            )


if __name__ == "__main__":
    main()
