"""Flat cost: 1,000 → 10,000 mailboxes, each with a day of mail (`bench/scale.py --mailboxes`).

PostgreSQL + Redis, a real Celery worker process (`--concurrency=1`), the bundled simulators
over real HTTP. For each size N, in a fresh database:

- N mailboxes are set up in bulk: accounts with a live email subscription and their mail on
  the Aurinko simulator (one `/_control/bulk` request per 1,000), the organisation's users,
  sync states and subscriptions inserted straight into the database (registration through the
  admin API is not what is measured). A day of mail: mailbox i receives `--mails-per-mailbox`
  (4) messages from known customers (every other one cc'd to colleague i+1, so it holds 6
  copies of 4 + 2 messages); N/2 customers (at least sample × mails) are contacts in the CRM.
- Background (every mailbox outside the sample), `--background`:
  `rows` (default): a synced day's rows, bulk-inserted. Ten mailboxes are synced in-process
  through the function the Celery task calls (`run_service`); their rows (claims, sightings,
  participants, thread keys, sync state) are copied to every other background mailbox with
  ids, addresses and message ids rewritten, 1 in 50 claims left waiting and 1 in 50 parked
  unmatched (retry tomorrow), plus notification audit rows (`bench/background_rows.py`).
  Copies, not synced: nothing asked Aurinko or the CRM for them.
  `1` (or `sync`): every background mailbox synced through `run_service` (slow: ~0.2 s each).
  `0`: none (only users, sync states and subscriptions are present).
- Sample: the first `--sample` (200) mailboxes, the same mail at every size, are synced by the
  worker process (one `brightsync.sync.run` task each, as a webhook would queue). Measured:
  the worker's CPU seconds (main process + pool child, from /proc), rows added to every table,
  Aurinko + CRM calls (the simulators' counters), each per mailbox.
- Beat jobs and sweepers, with nothing or little due: wall time (median of 3) and SQL
  statements of each, called in this process.
- Worker memory (largest size): `--soak-rounds` (10) rounds of one new message into each of
  `--soak-mailboxes` (50) mailboxes and one run each; the worker's RSS (main + pool child)
  after each round.

The first size is the baseline; each later size prints its figures next to it with the
ratio (flat = within ±10 %).

    python bench/scale.py --mailboxes 1000,10000 [--sample 200] [--mails-per-mailbox 4]
        [--background rows|1|0] [--soak-rounds 10] [--soak-mailboxes 50]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    new_org,
    reset_simulators,
    reset_stats,
    seed_crm,
    simulators,
    stats,
)
from bench.background_rows import TEMPLATES, copy_background, template_tables  # noqa: E402

CHUNK = 1000


def note(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, file=sys.stderr, flush=True)


def customer(i: int, j: int, mails: int, customers: int) -> str:
    return f"c{(i * mails + j) % customers}@customer{(i * mails + j) % customers % 97}.com"


def day_of_mail(i: int, n: int, mails: int, customers: int, tag: str = "") -> list[dict]:
    """Mailbox i's day: `mails` messages from customers, every other one cc'd to colleague i+1."""
    out = []
    for j in range(mails):
        sender = customer(i, j, mails, customers)
        msg: dict[str, Any] = {
            "from": {"address": sender, "name": sender.split("@")[0]},
            "to": [{"address": f"user{i}@acme.com", "name": f"User {i}"}],
            "subject": f"Order {i}-{j}{tag}",
            "body": f"<p>Order {i}-{j}{tag}: two crates, delivery Tuesday.</p>",
            "bodyType": "html",
        }
        if j % 2 == 0:
            k = (i + 1) % n
            msg["cc"] = [{"address": f"user{k}@acme.com", "name": f"User {k}"}]
        out.append(msg)
    return out


def seed_simulators(aurinko: str, crm: str, n: int, mails: int, customers: int) -> list[dict]:
    from tests.conftest import CRM_TOKEN

    reset_simulators(aurinko, crm, CRM_TOKEN)
    for start in range(0, customers, 5000):
        seed_crm(
            crm,
            {
                "contacts": [
                    {"firstName": f"Customer{c}", "emailAddresses": [f"c{c}@customer{c % 97}.com"]}
                    for c in range(start, min(customers, start + 5000))
                ]
            },
            timeout=120,
        )
    accounts: list[dict] = []
    sub = {"resource": "/email/messages", "notificationUrl": "http://127.0.0.1:9/webhooks/aurinko"}
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        specs = [
            {
                "email": f"user{i}@acme.com",
                "name": f"User {i}",
                "provider": "imap",
                "subscriptions": [sub],
            }
            for i in range(start, stop)
        ]
        r = requests.post(aurinko + "/_control/bulk", timeout=300, json={"accounts": specs})
        r.raise_for_status()
        accounts += r.json()["accounts"]
    # Mail after every account exists, so a cc to a later colleague lands in its mailbox.
    for start in range(0, n, CHUNK):
        mail = [
            m
            for i in range(start, min(n, start + CHUNK))
            for m in day_of_mail(i, n, mails, customers)
        ]
        requests.post(
            aurinko + "/_control/bulk", timeout=300, json={"mail": mail}
        ).raise_for_status()
    return accounts


def seed_database(crm: str, accounts: list[dict]) -> list[int]:
    """Organisation "Acme" with one user, email sync state and active subscription per
    account, inserted in bulk; the users' ids in account order."""
    from sqlalchemy import insert, select

    from brightsync.crypto import encrypt
    from brightsync.db import session_scope
    from brightsync.models import Subscription, SyncState, User, utcnow
    from tests.conftest import CRM_TOKEN

    now = utcnow()
    with session_scope() as s:
        org = new_org(s, crm, CRM_TOKEN)
        s.execute(
            insert(User),
            [
                {
                    "org_id": org.id,
                    "email": a["email"].lower(),
                    "aurinko_account_id": str(a["id"]),
                    "access_token_enc": encrypt(a["accessToken"]),
                    "services": ["email"],
                    "mailbox_state": "ok",
                    "created_at": now,
                }
                for a in accounts
            ],
        )
        ids = dict(s.execute(select(User.aurinko_account_id, User.id)).all())
        user_ids = [ids[str(a["id"])] for a in accounts]
        s.execute(
            insert(SyncState),
            [
                {
                    "user_id": uid,
                    "service": "email",
                    "state": "idle",
                    "runs": 0,
                    "counters": {},
                    "updated_at": now,
                }
                for uid in user_ids
            ],
        )
        s.execute(
            insert(Subscription),
            [
                {
                    "user_id": uid,
                    "service": "email",
                    "resource": "/email/messages",
                    "aurinko_id": str(a["subscriptions"][0]["id"]),
                    "state": "active",
                    "checked_at": now,  # verified just now, as after its creation
                    "updated_at": now,
                }
                for uid, a in zip(user_ids, accounts, strict=True)
            ],
        )
    return user_ids


def table_rows() -> dict[str, int]:
    from sqlalchemy import func, select

    from brightsync.db import session_scope
    from brightsync.models import Base

    with session_scope() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


def runs_done(user_ids: list[int], at_least: int) -> int:
    from sqlalchemy import func, select

    from brightsync.db import session_scope
    from brightsync.models import SyncState

    with session_scope() as s:
        return s.scalar(
            select(func.count())
            .select_from(SyncState)
            .where(
                SyncState.user_id.in_(user_ids),
                SyncState.runs >= at_least,
                SyncState.lease_owner.is_(None),
                SyncState.pending_since.is_(None),
            )
        )


def open_claims() -> int:
    from sqlalchemy import func, select

    from brightsync.db import session_scope
    from brightsync.email.claims import OPEN_STATES
    from brightsync.models import EmailClaim

    with session_scope() as s:
        return s.scalar(
            select(func.count()).select_from(EmailClaim).where(EmailClaim.state.in_(OPEN_STATES))
        )


# --- the worker process, seen from /proc ------------------------------------------------------


def _proc_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the worker and its pool processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _proc_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def rss_mib(pid: int, tree: bool = True) -> float:
    total = 0
    for p in _proc_tree(pid) if tree else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- the pieces measured --------------------------------------------------------------------


def sync_through_worker(pid: int, user_ids: list[int], round_no: int, limit: float) -> float:
    """One run per mailbox through the worker; the worker's CPU seconds it took."""
    from brightsync.sync import scheduler
    from brightsync.sync.queue import publish_sync

    before = cpu_seconds(pid)
    for uid in user_ids:
        scheduler.request_and_publish(uid, "email", publish_sync)
    deadline = time.monotonic() + limit
    while runs_done(user_ids, round_no) < len(user_ids) or open_claims():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sample's runs did not finish within {limit:.0f} s")
        time.sleep(0.2)
    time.sleep(0.5)  # the pool child's last CPU ticks
    return cpu_seconds(pid) - before


@contextmanager
def counting_statements() -> Iterator[list[int]]:
    from sqlalchemy import event

    from brightsync.db import get_engine

    engine = get_engine()
    count = [0]

    def on_execute(*_: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def beat_jobs() -> dict[str, Callable[[], Any]]:
    from brightsync.domains import CACHE_KINDS
    from brightsync.email.jobs import sweep_claims
    from brightsync.ops import gauges
    from brightsync.sync import jobs
    from brightsync.sync_cache import cache, watch

    def count_gauges() -> Any:
        gauges.reset_gauge_cache()
        return gauges.database_gauges()

    return {
        "sweep_runs": jobs.sweep_runs,
        "sweep_email_claims": sweep_claims,
        "safety_sync": jobs.safety_sync,
        "unmatched retry (daily)": lambda: cache.retry_job(CACHE_KINDS),
        "unmatched expire (daily)": lambda: cache.expire_job(CACHE_KINDS),
        "crm contact watch": lambda: watch.watch_all(CACHE_KINDS),
        "prune_notifications": jobs.prune_notifications,
        "prune_broker": jobs.prune_broker,
        "check_subscriptions": jobs.check_subscriptions,
        "metrics gauges": count_gauges,
    }


def time_beat_jobs(aurinko: str, crm: str) -> dict[str, dict[str, float]]:
    out = {}
    for name, job in beat_jobs().items():
        walls, statements = [], 0
        reset_stats(aurinko, crm)
        for _ in range(3):
            with counting_statements() as count:
                t0 = time.perf_counter()
                job()
                walls.append(time.perf_counter() - t0)
            statements = count[0]
        calls = (stats(aurinko)["total"] + stats(crm)["total"]) / 3
        out[name] = {"seconds": statistics.median(walls), "statements": statements, "calls": calls}
    return out


def one_size(n: int, args: argparse.Namespace, aurinko: str, crm: str, soak: bool) -> dict:
    from sqlalchemy import text, update

    from brightsync.db import session_scope
    from brightsync.domains import run_service
    from brightsync.migrate import upgrade
    from brightsync.models import SyncState, utcnow
    from tests.conftest import WorkerProcess, apply_env, destroy_backend, make_backend

    sample = min(args.sample, n)
    customers = max(n // 2, sample * args.mails_per_mailbox)
    backend = make_backend("postgres")
    backend.env.update(
        {
            "AURINKO_API_URL": aurinko,
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
        }
    )
    worker = None
    out: dict[str, Any] = {"n": n, "sample": sample}
    try:
        apply_env(backend.env)
        upgrade()
        t0 = time.monotonic()
        accounts = seed_simulators(aurinko, crm, n, args.mails_per_mailbox, customers)
        user_ids = seed_database(crm, accounts)
        out["seed_s"] = time.monotonic() - t0
        note(f"{n:,}: set up in {out['seed_s']:.0f} s")
        t0 = time.monotonic()
        templates = user_ids[sample : sample + TEMPLATES]
        few = n - sample <= TEMPLATES  # nothing worth copying: sync them
        if args.background in ("1", "sync") or (args.background == "rows" and few):
            for uid in user_ids[sample:]:
                run_service(uid, "email")
        elif args.background == "rows":
            # A few mailboxes synced through the product, their rows copied to the others.
            for uid in templates:
                run_service(uid, "email")
            written = table_rows()
            extra = template_tables(t for t, c in written.items() if c)
            out["copied"] = copy_background(
                accounts, user_ids, templates, range(sample + len(templates), n)
            )
            note(f"{n:,}: background rows copied {out['copied']} (not copied: {extra or '-'})")
        else:  # the background is "synced a moment ago": the safety sync has nothing due
            with session_scope() as s:
                s.execute(
                    update(SyncState)
                    .where(SyncState.user_id.in_(user_ids[sample:]))
                    .values(last_sync_at=utcnow() - timedelta(minutes=5))
                )
        # Planner statistics as autovacuum keeps them in a live database (it analyses a table
        # once a tenth of it changed, within a minute): right after a bulk load they are stale
        # and the due-row queries below would be planned as full scans.
        with session_scope() as s:
            s.execute(text("ANALYZE"))
        out["background_s"] = time.monotonic() - t0
        worker = WorkerProcess(backend.env, backend.workdir, f"mailboxes{n}", concurrency=1)
        pid = worker.proc.pid
        time.sleep(1.0)
        rows_before = table_rows()
        reset_stats(aurinko, crm)
        t0 = time.monotonic()
        cpu = sync_through_worker(pid, user_ids[:sample], 1, args.limit)
        out["sample_s"] = time.monotonic() - t0
        note(f"{n:,}: sample synced in {out['sample_s']:.0f} s")
        rows_after = table_rows()
        out["cpu"] = cpu / sample
        out["rows"] = sum(rows_after.values()) - sum(rows_before.values())
        out["rows_by_table"] = {
            t: rows_after[t] - rows_before[t] for t in rows_after if rows_after[t] != rows_before[t]
        }
        out["rows"] /= sample
        out["aurinko"] = stats(aurinko)["total"] / sample
        out["crm"] = stats(crm)["total"] / sample
        out["total_rows"] = sum(rows_after.values())
        out["jobs"] = time_beat_jobs(aurinko, crm)
        note(f"{n:,}: beat jobs timed")
        if soak:
            out["rss"] = soak_worker(pid, user_ids[: args.soak_mailboxes], n, args, aurinko)
    finally:
        if worker is not None:
            worker.stop()
        destroy_backend(backend)
    return out


def soak_worker(pid: int, user_ids: list[int], n: int, args: argparse.Namespace, aurinko: str):
    """Rounds of new mail and runs through the same worker; its RSS (MiB) after each."""
    samples = [rss_mib(pid)]
    note(f"worker RSS {samples[0]:.1f} MiB (main process {rss_mib(pid, tree=False):.1f})")
    customers = max(n // 2, len(user_ids) * args.mails_per_mailbox)
    for r in range(args.soak_rounds):
        mail = [day_of_mail(i, n, 1, customers, tag=f" round {r}")[0] for i in range(len(user_ids))]
        requests.post(
            aurinko + "/_control/bulk", timeout=300, json={"mail": mail}
        ).raise_for_status()
        sync_through_worker(pid, user_ids, r + 2, args.limit)
        samples.append(rss_mib(pid))
        note(f"round {r + 1}: RSS {samples[-1]:.1f} MiB (main {rss_mib(pid, tree=False):.1f})")
    return samples


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def report(rows: list[dict], args: argparse.Namespace) -> bool:
    base = rows[0]
    print(
        f"\nFlat cost on PostgreSQL + Redis: a sample of {base['sample']} mailboxes synced by one "
        f"worker process (--concurrency=1), {args.mails_per_mailbox} messages each "
        f"(every other one cc'd to a colleague); baseline {base['n']:,} mailboxes, same run"
    )
    print(
        f"{'mailboxes':>10} {'rows in db':>11} {'CPU s/mbx':>10} {'rows/mbx':>9} "
        f"{'Aurinko/mbx':>12} {'CRM/mbx':>8}   ratios to baseline (CPU rows Aurinko CRM)"
    )
    ok = True
    for r in rows:
        ratios = [r[k] / base[k] if base[k] else 1.0 for k in ("cpu", "rows", "aurinko", "crm")]
        if r is not base:
            ok &= all(0.9 <= x <= 1.1 for x in ratios)
        print(
            f"{r['n']:>10,} {r['total_rows']:>11,} {r['cpu']:>10.4f} {r['rows']:>9.2f} "
            f"{r['aurinko']:>12.2f} {r['crm']:>8.2f}   " + "  ".join(f"{x:.2f}" for x in ratios)
        )
    print("rows added by the sample, by table (baseline):", base["rows_by_table"])
    print(
        "\nBeat jobs and sweepers, nothing or little due: "
        "median wall ms / SQL statements / API calls"
    )
    names = list(base["jobs"])
    print(f"{'job':>26} " + " ".join(f"{r['n']:>22,}" for r in rows) + "   time ratio")
    for name in names:
        cells = []
        for r in rows:
            j = r["jobs"][name]
            cells.append(f"{j['seconds'] * 1000:>8.1f} / {j['statements']:>4} / {j['calls']:>5.0f}")
        b, last = base["jobs"][name], rows[-1]["jobs"][name]
        flat = (
            last["statements"] <= b["statements"] * 1.1 + 1
            and last["calls"] <= b["calls"] * 1.1 + 1
        )
        print(
            f"{name:>26} "
            + " ".join(f"{c:>22}" for c in cells)
            + f"   {ratio(last['seconds'], b['seconds'])}{'' if flat else '  (grows)'}"
        )
    rss = next((r["rss"] for r in rows if "rss" in r), None)
    if rss:
        print(
            f"\nWorker RSS (MiB, main + pool child) over {len(rss) - 1} rounds of "
            f"{args.soak_mailboxes} runs each (one new message per mailbox): "
            + ", ".join(f"{x:.1f}" for x in rss)
        )
        growth = rss[-1] - rss[1] if len(rss) > 2 else 0.0
        print(f"after the first round → last: {growth:+.1f} MiB")
    print(
        f"\nper-mailbox CPU, rows and API calls flat within ±10 %: {'MET' if ok else 'MISSED'} "
        f"(baseline: {base['n']:,} mailboxes, same run)"
    )
    for r in rows:
        print(
            f"  {r['n']:,}: set-up {r['seed_s']:.0f} s, background {r['background_s']:.0f} s, "
            f"sample {r['sample_s']:.0f} s"
        )
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--mailboxes", default="1000,10000", help="sizes; the first is the baseline"
    )
    parser.add_argument("--sample", type=int, default=200, help="mailboxes measured at each size")
    parser.add_argument("--mails-per-mailbox", type=int, default=4)
    parser.add_argument(
        "--background",
        choices=("rows", "1", "sync", "0"),
        default="rows",
        help="the mailboxes outside the sample: rows = bulk-insert copies of a few synced "
        "mailboxes' rows (not synced); 1/sync = sync every one first (slow); 0 = no email rows",
    )
    parser.add_argument("--soak-rounds", type=int, default=10, help="worker memory rounds")
    parser.add_argument(
        "--soak-mailboxes", type=int, default=50, help="mailboxes given a message and a run a round"
    )
    parser.add_argument("--limit", type=float, default=600.0, help="give up on a round after (s)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    from tests.conftest import CRM_TOKEN

    # A stopped benchmark still removes its database, Redis db and worker (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(x) for x in args.mailboxes.split(",")]
    saved = dict(os.environ)
    rows = []
    try:
        with simulators(page_size=50, crm_token=CRM_TOKEN) as (aurinko, crm):
            for k, n in enumerate(sizes):
                rows.append(one_size(n, args, aurinko, crm, soak=k == len(sizes) - 1))
                print(f"measured {n:,} mailboxes", file=sys.stderr)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    sys.exit(0 if report(rows, args) else 1)


if __name__ == "__main__":
    main()
