"""Scale-out benchmark: emails logged per second with 1, 2 and 4 worker processes.

PostgreSQL + Redis, real Celery worker processes (each `--concurrency=1`, on every queue),
the bundled simulators over real HTTP. K mailboxes share M messages from known customers,
each message held by R of them (overlapping mailboxes: the same email is seen by several
runs at once). One run per mailbox is requested at t=0; the figure is M ÷ seconds until every
message is in the reference CRM, then duplicates in the CRM are counted (must be 0). The
1-worker figure is the baseline measured in the same run; each row prints its speed-up.

    python bench/scale.py [--workers 1,2,4] [--accounts 8] [--messages 120] [--overlap 3]
    python bench/scale.py --mailboxes 1000,10000 [...]   (flat cost: bench/mailboxes.py)

Rate limits (Aurinko, CRM) are lifted so the workers, not a budget, are what is measured.
On a 2-core machine the simulators and the workers share the same two cores, so the curve
flattens early; run it on a bigger machine to see further.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    add_accounts,
    add_org,
    reset_simulators,
    simulators,
)

CUSTOMERS = 10


def scene(aurinko: str, crm: str, mailboxes: int, messages: int, overlap: int) -> list[dict]:
    """Accounts on the simulator, customers in the CRM, messages spread over the mailboxes."""
    from tests.conftest import CRM_TOKEN

    reset_simulators(aurinko, crm, CRM_TOKEN)
    requests.post(
        crm + "/_control/seed",
        timeout=30,
        json={
            "contacts": [
                {"firstName": f"Customer{c}", "emailAddresses": [f"c{c}@customer{c}.com"]}
                for c in range(CUSTOMERS)
            ]
        },
    ).raise_for_status()
    accounts = add_accounts(aurinko, mailboxes, "imap")
    rng = random.Random(7)  # the same mail for every worker count
    for j in range(messages):
        held = rng.sample(accounts, min(overlap, mailboxes))
        c = j % CUSTOMERS
        requests.post(
            aurinko + "/_control/mail",
            timeout=30,
            json={
                "from": {"address": f"c{c}@customer{c}.com", "name": f"Customer{c}"},
                "to": [{"address": a["email"], "name": a["email"]} for a in held],
                "subject": f"Order {j}",
                "body": f"<p>order {j}</p>",
                "bodyType": "html",
            },
        ).raise_for_status()
    return accounts


def register(crm: str, accounts: list[dict]) -> list[int]:
    from tests.conftest import CRM_TOKEN

    return add_org(crm, accounts, ["email"], crm_token=CRM_TOKEN)


def crm_emails(crm: str) -> list[str]:
    records = requests.get(crm + "/_control/records/emails", timeout=30).json()
    records = records if isinstance(records, list) else records.get("records", [])
    return [r.get("rfc822MsgId") for r in records]


def one_round(workers: int, args: argparse.Namespace, aurinko: str, crm: str) -> dict:
    from brightsync.migrate import upgrade
    from brightsync.sync import scheduler
    from brightsync.sync.jobs import publish_sync
    from tests.conftest import WorkerProcess, apply_env, destroy_backend, make_backend

    backend = make_backend("postgres")
    backend.env.update(
        {
            "AURINKO_API_URL": aurinko,
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
        }
    )
    procs: list[WorkerProcess] = []
    try:
        apply_env(backend.env)
        upgrade()
        accounts = scene(aurinko, crm, args.accounts, args.messages, args.overlap)
        user_ids = register(crm, accounts)
        procs = [
            WorkerProcess(backend.env, backend.workdir, f"scale{workers}-{i}", concurrency=1)
            for i in range(workers)
        ]
        started = time.monotonic()
        for uid in user_ids:
            scheduler.request_and_publish(uid, "email", publish_sync)
        deadline = started + args.limit
        done_at = None
        while time.monotonic() < deadline:
            if len(set(crm_emails(crm))) >= args.messages:
                done_at = time.monotonic()
                break
            time.sleep(0.1)
        time.sleep(1.0)  # a late duplicate would land now
        logged = crm_emails(crm)
        elapsed = (done_at or time.monotonic()) - started
        return {
            "workers": workers,
            "seconds": elapsed,
            "unique": len(set(logged)),
            "duplicates": len(logged) - len(set(logged)),
            "finished": done_at is not None,
        }
    finally:
        for p in procs:
            p.stop()
        destroy_backend(backend)


def main() -> None:
    if any(a.split("=")[0] == "--mailboxes" for a in sys.argv[1:]):
        from bench.mailboxes import main as mailboxes  # the flat-cost mode lives there

        return mailboxes(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--accounts", type=int, default=8, help="mailboxes sharing the mail")
    parser.add_argument("--messages", type=int, default=120)
    parser.add_argument("--overlap", type=int, default=3, help="mailboxes holding each message")
    parser.add_argument("--limit", type=float, default=120.0, help="give up after (s) per round")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    from tests.conftest import CRM_TOKEN

    saved = dict(os.environ)
    rows = []
    try:
        with simulators(page_size=50, crm_token=CRM_TOKEN) as (aurinko, crm):
            for n in (int(x) for x in args.workers.split(",")):
                rows.append(one_round(n, args, aurinko, crm))
    finally:
        os.environ.clear()
        os.environ.update(saved)

    print(
        f"\nScale-out on PostgreSQL + Redis: {args.messages} messages in {args.accounts} "
        f"mailboxes, each held by {args.overlap}"
    )
    print(
        f"{'worker processes':>16} {'seconds':>8} {'emails/s':>9} {'speed-up':>9} "
        f"{'logged':>7} {'duplicates':>11}"
    )
    base = rows[0]["unique"] / rows[0]["seconds"]
    for r in rows:
        rate = r["unique"] / r["seconds"]
        flag = "" if r["finished"] else "  (gave up)"
        print(
            f"{r['workers']:>16} {r['seconds']:>8.2f} {rate:>9.1f} {rate / base:>8.2f}x "
            f"{r['unique']:>4}/{args.messages} {r['duplicates']:>11}{flag}"
        )
    ok = all(r["duplicates"] == 0 and r["finished"] for r in rows)
    print(
        f"\nno duplicates and every message logged: {'MET' if ok else 'MISSED'} "
        f"(baseline: {rows[0]['workers']} worker process, same run)"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
