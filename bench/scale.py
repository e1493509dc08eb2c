"""Scale-out benchmark: emails logged per second with 1, 2 and 4 worker processes.

PostgreSQL + Redis, real Celery worker processes started as the Procfile's `worker` is (each
`--concurrency=1`, on every queue), the bundled simulators over real HTTP. K mailboxes share
M messages from known customers, each message held by R of them (overlapping mailboxes: the
same email is seen by several runs at once). One run per mailbox is requested at t=0, half
on the `intake` queue (as a webhook asks) and half on `sync` (as beat's safety sync does);
the figure is M ÷ seconds until every message is in the reference CRM, then duplicates
(must be 0) and missing messages (must be 0) are counted. The 1-worker figure at the same
latency is the baseline measured in the same run; each row prints its speed-up.

    python bench/scale.py [--workers 1,2,4] [--latency-ms 0,50] [--email-chunk 20]
                          [--accounts 8] [--messages 120] [--overlap 3] [--limit 120]
    python bench/scale.py --mailboxes 1000,10000 [...]   (flat cost: bench/mailboxes.py)

Both simulators hold every API answer `--latency-ms` (default: every worker count at 0 ms,
the simulators answering at once, then at 50 ms, a real API across the network). Rate
limits (Aurinko, CRM) are lifted so the workers, not a budget, are what is measured. Each
row also shows CRM calls per logged email, our CPU per email (worker processes and the
simulators in this process; not PostgreSQL or Redis) and how busy the whole machine was.
At 0 ms the simulators, PostgreSQL, Redis and the workers are CPU-bound on the same cores,
so the curve only grows on a machine with cores to spare; at 50 ms a worker mostly waits
on the network, as in production, and more worker processes add throughput.

`--email-chunk` (BRIGHTSYNC_EMAIL_CHUNK, default 20: a run owning more emails on a page hands
them to every worker in tasks of at most that size) takes a list to compare in the same run;
a chunk larger than every page (e.g. 100000) is a run writing everything it owns itself.
Try `--accounts 1 --overlap 1` (one mailbox's backlog) to see what the hand-out is for.
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
    seed_crm,
    simulators,
)

CUSTOMERS = 10


def scene(aurinko: str, crm: str, mailboxes: int, messages: int, overlap: int) -> list[dict]:
    """Accounts on the simulator, customers in the CRM, messages spread over the mailboxes."""
    from tests.conftest import CRM_TOKEN

    reset_simulators(aurinko, crm, CRM_TOKEN)
    seed_crm(
        crm,
        {
            "contacts": [
                {"firstName": f"Customer{c}", "emailAddresses": [f"c{c}@customer{c}.com"]}
                for c in range(CUSTOMERS)
            ]
        },
    )
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


def tree_cpu(pid: int) -> float:
    """CPU-seconds so far of a process and its live descendants (a worker and its pool)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # gone, or not Linux
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(tree_cpu(int(c)) for c in children)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot: what every process used."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


def set_latency(aurinko: str, crm: str, latency_ms: float) -> None:
    """Every API answer of both simulators held `latency_ms` from now on."""
    for url in (aurinko, crm):
        requests.post(
            url + "/_control/settings", timeout=30, json={"latencyMs": latency_ms}
        ).raise_for_status()


def one_round(
    workers: int, latency_ms: float, chunk: int, args: argparse.Namespace, aurinko: str, crm: str
) -> dict:
    from brightsync.migrate import upgrade
    from brightsync.sync import scheduler
    from brightsync.sync.queue import publish_intake, publish_sync
    from tests.conftest import WorkerProcess, apply_env, destroy_backend, make_backend

    backend = make_backend("postgres")
    backend.env.update(
        {
            "AURINKO_API_URL": aurinko,
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_EMAIL_CHUNK": str(chunk),
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
        set_latency(aurinko, crm, latency_ms)  # the scene was set at full speed
        cpu0 = sum(tree_cpu(p.proc.pid) for p in procs) + time.process_time()
        busy0 = machine_busy()
        started = time.monotonic()
        for i, uid in enumerate(user_ids):
            # Both queues the workers take sync runs from: webhooks' and beat's.
            scheduler.request_and_publish(uid, "email", publish_intake if i % 2 else publish_sync)
        deadline = started + args.limit
        done_at = None
        while time.monotonic() < deadline:
            if len(set(crm_emails(crm))) >= args.messages:
                done_at = time.monotonic()
                break
            time.sleep(0.1)
        # Our CPU (worker processes, the simulators in this process; not PostgreSQL or
        # Redis) and how busy the machine was (everyone's processes) while the mail flowed.
        cpu = sum(tree_cpu(p.proc.pid) for p in procs) + time.process_time() - cpu0
        busy1 = machine_busy()
        span = busy1[1] - busy0[1]
        time.sleep(1.0)  # a late duplicate would land now
        set_latency(aurinko, crm, 0)
        logged = crm_emails(crm)
        crm_calls = requests.get(crm + "/_control/stats", timeout=30).json()["total"]
        elapsed = (done_at or time.monotonic()) - started
        return {
            "workers": workers,
            "latency_ms": latency_ms,
            "chunk": chunk,
            "seconds": elapsed,
            "unique": len(set(logged)),
            "duplicates": len(logged) - len(set(logged)),
            "finished": done_at is not None,
            "cpu_ms": 1000 * cpu / max(1, len(set(logged))),
            "crm_calls": crm_calls / max(1, len(set(logged))),
            "busy": (busy1[0] - busy0[0]) / span if span else 0.0,
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
    parser.add_argument("--workers", default="1,2,4", help="worker processes per round")
    parser.add_argument(
        "--latency-ms",
        default="0,50",
        help="simulators' answer latency per API call, ms (comma list; first worker count "
        "of each is its baseline)",
    )
    parser.add_argument(
        "--email-chunk",
        default="20",
        help="BRIGHTSYNC_EMAIL_CHUNK of the workers (comma list to compare)",
    )
    parser.add_argument("--accounts", type=int, default=8, help="mailboxes sharing the mail")
    parser.add_argument("--messages", type=int, default=120)
    parser.add_argument("--overlap", type=int, default=3, help="mailboxes holding each message")
    parser.add_argument("--limit", type=float, default=120.0, help="give up after (s) per round")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    from tests.conftest import CRM_TOKEN

    saved = dict(os.environ)
    workers = [int(x) for x in args.workers.split(",")]
    latencies = [float(x) for x in args.latency_ms.split(",")]
    chunks = [int(x) for x in args.email_chunk.split(",")]
    rows = []
    try:
        with simulators(page_size=50, crm_token=CRM_TOKEN) as (aurinko, crm):
            for latency in latencies:
                for chunk in chunks:
                    for n in workers:
                        rows.append(one_round(n, latency, chunk, args, aurinko, crm))
    finally:
        os.environ.clear()
        os.environ.update(saved)

    print(
        f"\nScale-out on PostgreSQL + Redis: {args.messages} messages in {args.accounts} "
        f"mailboxes, each held by {args.overlap}; runs on the intake and sync queues"
    )
    print(
        f"{'latency ms':>10} {'chunk':>6} {'worker processes':>16} {'seconds':>8} {'emails/s':>9} "
        f"{'speed-up':>9} {'duplicates':>11} {'missing':>8} {'CRM calls/email':>16} "
        f"{'CPU ms/email':>13} {'machine busy':>13}"
    )
    for latency in latencies:
        for chunk in chunks:
            mine = [r for r in rows if r["latency_ms"] == latency and r["chunk"] == chunk]
            base = mine[0]["unique"] / mine[0]["seconds"]
            for r in mine:
                rate = r["unique"] / r["seconds"]
                flag = "" if r["finished"] else "  (gave up)"
                print(
                    f"{latency:>10g} {chunk:>6} {r['workers']:>16} {r['seconds']:>8.2f} "
                    f"{rate:>9.1f} {rate / base:>8.2f}x {r['duplicates']:>11} "
                    f"{args.messages - r['unique']:>8} {r['crm_calls']:>16.2f} "
                    f"{r['cpu_ms']:>13.0f} "
                    f"{100 * r['busy']:>12.0f}%{flag}"
                )
    ok = all(r["duplicates"] == 0 and r["finished"] for r in rows)
    print(
        f"\nno duplicates and every message logged: {'MET' if ok else 'MISSED'} "
        f"(baseline per latency and chunk: {workers[0]} worker process(es), same run)"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
