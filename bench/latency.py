"""Webhook -> logged latency: p50/p99 from the signed notification's POST to the email's
presence in the reference CRM, at fixed mail rates, on both backends.

The web app runs under the Procfile's gunicorn, a real Celery worker process consumes the
queues, the simulators answer over real HTTP. Each message is delivered into the simulated
mailbox and its notification is posted at once (so the simulator's own debounce is not
measured). The baseline row is 1 mail/s (an idle system), measured in the same run.

    python bench/latency.py [--backends embedded,postgres] [--rates 5,50] [--mails 40]

Rate limits are lifted (CRM and Aurinko) so the pipeline, not a budget, is measured; note
that the CRM's default 20 requests/s per organisation caps real deployments. See also
bench/handover_latency.py (the run hand-over and the embedded broker's polling).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench._common import seed_crm  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def one_rate(web: str, aurinko: str, crm: str, account: dict, rate: float, mails: int, tag: str):
    from brightsync.signing import signed_headers
    from tests.conftest import SIGNING_SECRET

    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            records = requests.get(crm + "/_control/records/emails", timeout=10).json()
            now = time.monotonic()
            for r in records if isinstance(records, list) else records.get("records", []):
                seen.setdefault(r.get("rfc822MsgId"), now)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = requests.Session()
    try:
        for i in range(mails):
            due = time.monotonic()
            m = session.post(
                aurinko + "/_control/mail",
                timeout=30,
                json={
                    "from": {"address": "dave@customer.com", "name": "Dave Customer"},
                    "to": [{"address": account["email"], "name": "Alice"}],
                    "subject": f"{tag} {i}",
                    "body": f"<p>{tag} {i}</p>",
                    "bodyType": "html",
                },
            ).json()
            body = json.dumps(
                {
                    "subscription": 1,
                    "resource": "/email/messages",
                    "accountId": account["id"],
                    "payloads": [{"id": str(m.get("id", i)), "changeType": "created"}],
                }
            ).encode()
            at = time.monotonic()
            r = session.post(
                web + "/webhooks/aurinko",
                data=body,
                headers={
                    **signed_headers(SIGNING_SECRET, body),
                    "Content-Type": "application/json",
                },
                timeout=30,
            )
            r.raise_for_status()
            sent[m["internetMessageId"]] = at
            time.sleep(max(0.0, due + 1 / rate - time.monotonic()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not set(sent) <= set(seen):
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(timeout=5)
    return [seen[k] - t for k, t in sent.items() if k in seen]


def initial_sync(user_id: int) -> None:
    """The mailbox's first run (its start-sync) happens before anything is measured."""
    from sqlalchemy import select

    from brightsync.db import session_scope
    from brightsync.models import SyncState
    from brightsync.sync import scheduler
    from brightsync.sync.queue import publish_sync

    scheduler.request_and_publish(user_id, "email", publish_sync)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope() as s:
            state = s.scalar(select(SyncState).where(SyncState.user_id == user_id))
            if state is not None and state.runs >= 1 and state.state == "idle":
                return
        time.sleep(0.2)
    raise RuntimeError("the first sync did not finish")


def run_backend(name: str, rates: list[float], mails: int, intake: str) -> list[tuple]:
    from intake import free_port, start_web, stop
    from scale import register

    from brightsync.migrate import upgrade
    from brightsync.sandbox.aurinko import create_aurinko_app
    from brightsync.sandbox.crm import create_crm_app
    from brightsync.sandbox.server import ServerThread
    from tests.conftest import CRM_TOKEN, WorkerProcess, apply_env, destroy_backend, make_backend

    backend = make_backend(name)
    aurinko = ServerThread(create_aurinko_app(page_size=50)).start()
    crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
    backend.env.update(
        {
            "AURINKO_API_URL": aurinko.url,
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_WEBHOOK_INTAKE": intake,
        }
    )
    web = worker = None
    rows = []
    try:
        apply_env(backend.env)
        upgrade()
        seed_crm(
            crm.url, {"contacts": [{"firstName": "Dave", "emailAddresses": ["dave@customer.com"]}]}
        )
        account = requests.post(
            aurinko.url + "/_control/accounts",
            timeout=30,
            json={"email": "alice@acme.com", "name": "Alice", "provider": "imap"},
        ).json()
        (user_id,) = register(crm.url, [account])
        port = free_port()
        web = start_web(
            "brightsync.web:create_app()", port, 2, backend.env, backend.workdir / "web.log"
        )
        worker = WorkerProcess(backend.env, backend.workdir, "latency")
        url = f"http://127.0.0.1:{port}"
        initial_sync(user_id)
        for label, rate, n in [("baseline", 1.0, min(mails, 10))] + [("", r, mails) for r in rates]:
            lat = one_rate(url, aurinko.url, crm.url, account, rate, n, f"r{rate}")
            variant = f"{name} ({intake} intake)" if name != "embedded" else name
            rows.append((variant, label or f"{rate:g}/s", rate, lat, n))
    finally:
        if worker:
            worker.stop()
        if web:
            stop(web)
        aurinko.stop()
        crm.stop()
        destroy_backend(backend)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="embedded,postgres")
    parser.add_argument("--rates", default="5,50", help="mails per second")
    parser.add_argument("--mails", type=int, default=40, help="mails per rate")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    saved = dict(os.environ)
    rows = []
    try:
        rates = [float(r) for r in args.rates.split(",")]
        for name in (n.strip() for n in args.backends.split(",")):
            # On Redis the database intake path, measured in the same run, is the baseline.
            for intake in ("auto", "database") if name != "embedded" else ("auto",):
                rows += run_backend(name, rates, args.mails, intake)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    print("\nWebhook POST -> email in the CRM (gunicorn x2, one worker --concurrency=2)")
    print(f"{'backend':<26} {'rate':<14} {'p50':>8} {'p99':>8} {'logged':>8}")
    for name, label, _rate, lat, n in rows:
        p50 = f"{statistics.median(lat):.3f}s" if lat else "-"
        p99 = f"{percentile(lat, 99):.3f}s" if lat else "-"
        print(f"{name:<26} {label:<14} {p50:>8} {p99:>8} {len(lat):>4}/{n}")


if __name__ == "__main__":
    main()
