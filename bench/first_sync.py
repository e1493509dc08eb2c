"""A new mailbox's first sync: 1,500 messages of the last 10 days in the mailbox (500 from CRM
contacts, 1,000 from strangers) when it is registered. Time from registration to the 500
logged and to the run's end, and the Aurinko and CRM calls it took.

    python bench/first_sync.py [--backends embedded,postgres] [--messages 1500] [--known 500]

Two rounds per backend, on the same data, in the same run:
- before (the baseline): the mailbox registered as before issue 19 (its rows only, no
  subscription task, nothing queued). Nothing is logged during the observation window
  (`--window`, 15 s): Aurinko sends no webhook for mail already in the mailbox, so the first
  run waited for the safety sync (beat every 15 min, for services quiet 30 min or never
  synced). The safety sync is then started by hand, and its run measured from there.
- after: `POST /api/v1/orgs/{id}/users` on the web app (gunicorn, as the Procfile); the
  subscription task creates the subscription and starts the first sync at once.

The web app runs under gunicorn, one Celery worker process (--concurrency=2) consumes the
queues, the simulators answer over real HTTP; rate limits are lifted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench._common import reset_simulators, seed_crm, stats, wipe_tables  # noqa: E402

EMAIL = "alice@acme.com"


def mailbox(messages: int, known: int) -> list[dict[str, Any]]:
    """The mail in the mailbox: spread over the last 10 days, `known` from CRM contacts."""
    now = datetime.now(UTC)
    out = []
    for i in range(messages):
        sender = f"c{i}@client{i % 100}.com" if i < known else f"s{i}@stranger{i % 200}.com"
        out.append(
            {
                "from": {"address": sender, "name": f"Sender {i}"},
                "to": [{"address": EMAIL, "name": "Alice"}],
                "subject": f"Message {i}",
                "body": f"<p>Message {i}</p>",
                "bodyType": "html",
                "sentAt": (now - timedelta(days=10) * (i + 1) / (messages + 1)).isoformat(),
            }
        )
    return out


def scene(aurinko: str, crm: str, messages: int, known: int) -> dict[str, Any]:
    """Both simulators emptied, then the CRM's contacts and the mailbox with its mail."""
    from tests.conftest import CRM_TOKEN

    reset_simulators(aurinko, crm, CRM_TOKEN)
    contacts = [
        {
            "firstName": f"Client{i}",
            "lastName": "Known",
            "emailAddresses": [f"c{i}@client{i % 100}.com"],
        }
        for i in range(known)
    ]
    seed_crm(crm, {"contacts": contacts}, timeout=120)
    account = requests.post(
        aurinko + "/_control/accounts",
        timeout=30,
        json={"email": EMAIL, "name": "Alice", "provider": "google"},
    ).json()
    mail = mailbox(messages, known)
    for start in range(0, len(mail), 500):
        r = requests.post(aurinko + "/_control/bulk", json={"mail": mail[start : start + 500]})
        r.raise_for_status()
    requests.post(aurinko + "/_control/stats/reset", timeout=30)
    requests.post(crm + "/_control/stats/reset", timeout=30)
    return account


def logged(crm: str) -> int:
    from tests.conftest import CRM_TOKEN

    r = requests.get(
        crm + "/_control/records/emails", headers={"Authorization": f"Bearer {CRM_TOKEN}"}
    )
    body = r.json()
    return len(body if isinstance(body, list) else body.get("records", []))


def run_finished() -> bool:
    from sqlalchemy import select

    from brightsync.db import session_scope
    from brightsync.models import SyncState

    with session_scope() as s:
        st = s.scalar(select(SyncState).where(SyncState.service == "email"))
        return st is not None and st.last_sync_at is not None and st.state == "idle"


def measure(crm: str, known: int, start: float, timeout: float = 300) -> dict[str, float]:
    """Seconds from `start` to the first logged email, to all `known` logged, to the run's end."""
    marks: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(marks) < 3:
        n = logged(crm)
        now = time.monotonic() - start
        if n and "first" not in marks:
            marks["first"] = now
        if n >= known and "all" not in marks:
            marks["all"] = now
        if "all" in marks and "done" not in marks and run_finished():
            marks["done"] = now
        time.sleep(0.25)
    return marks


def before(web: str, aurinko: str, crm: str, args: Any) -> dict[str, Any]:
    from scale import register

    from brightsync.db import session_scope
    from brightsync.domains import SERVICES
    from brightsync.sync import scheduler, sweeps

    account = scene(aurinko, crm, args.messages, args.known)
    # The rows alone, as registration left them (its state row per service): nothing queued.
    (user_id,) = register(crm, [account])
    with session_scope() as s:
        scheduler.ensure_state(s, user_id, "email")
    time.sleep(args.window)
    idle = logged(crm)
    start = time.monotonic()
    queued = sweeps.sync_quiet(SERVICES)  # what beat's safety sync would do, when it came
    marks = measure(crm, args.known, start)
    return {"marks": marks, "idle": idle, "queued": queued}


def after(web: str, aurinko: str, crm: str, args: Any) -> dict[str, Any]:
    from tests.conftest import ADMIN_TOKEN, CRM_TOKEN

    account = scene(aurinko, crm, args.messages, args.known)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    org = requests.post(
        web + "/api/v1/orgs",
        headers=auth,
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": crm, "authType": "bearer", "token": CRM_TOKEN},
        },
    ).json()
    start = time.monotonic()
    r = requests.post(
        web + f"/api/v1/orgs/{org['id']}/users",
        headers=auth,
        json={
            "email": EMAIL,
            "aurinkoAccountId": account["id"],
            "aurinkoAccessToken": account["accessToken"],
            "services": ["email"],
        },
    )
    r.raise_for_status()
    return {"marks": measure(crm, args.known, start), "idle": None, "queued": None}


def run_backend(name: str, args: Any) -> list[tuple[str, dict[str, Any]]]:
    from intake import free_port, start_web, stop

    from brightsync.migrate import upgrade
    from brightsync.sandbox.aurinko import create_aurinko_app
    from brightsync.sandbox.crm import create_crm_app
    from brightsync.sandbox.server import ServerThread
    from tests.conftest import (
        CRM_TOKEN,
        SIGNING_SECRET,
        WorkerProcess,
        apply_env,
        destroy_backend,
        make_backend,
    )

    backend = make_backend(name)
    aurinko = ServerThread(create_aurinko_app(signing_secret=SIGNING_SECRET, page_size=50))
    aurinko.start()
    crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
    port = free_port()
    backend.env.update(
        {
            "AURINKO_API_URL": aurinko.url,
            "BRIGHTSYNC_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
        }
    )
    web = worker = None
    rows = []
    try:
        apply_env(backend.env)
        upgrade()
        web = start_web(
            "brightsync.web:create_app()", port, 2, backend.env, backend.workdir / "web.log"
        )
        worker = WorkerProcess(backend.env, backend.workdir, "first-sync")
        url = f"http://127.0.0.1:{port}"
        for label, round_ in (("before", before), ("after", after)):
            wipe_tables()
            out = round_(url, aurinko.url, crm.url, args)
            out["aurinko"], out["crm"] = stats(aurinko.url), stats(crm.url)
            rows.append((f"{name} {label}", out))
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
    parser.add_argument("--backends", default="embedded")
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--known", type=int, default=500, help="messages from CRM contacts")
    parser.add_argument("--window", type=float, default=15.0, help="seconds watched before")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    saved = dict(os.environ)
    rows = []
    try:
        for name in (n.strip() for n in args.backends.split(",")):
            rows += run_backend(name, args)
    finally:
        os.environ.clear()
        os.environ.update(saved)

    def sec(marks: dict[str, float], key: str) -> str:
        return f"{marks[key]:.1f}s" if key in marks else "-"

    print(f"\nFirst sync of {args.messages} messages ({args.known} from CRM contacts), 10 days")
    print(
        f"{'round':<20} {'logged in window':>16} {'first':>7} {f'{args.known} logged':>11} "
        f"{'run end':>8} {'Aurinko':>8} {'CRM':>6}"
    )
    for label, out in rows:
        marks = out["marks"]
        idle = "-" if out["idle"] is None else f"{out['idle']} in {args.window:g}s"
        print(
            f"{label:<20} {idle:>16} {sec(marks, 'first'):>7} {sec(marks, 'all'):>11} "
            f"{sec(marks, 'done'):>8} {out['aurinko']['total']:>8} {out['crm']['total']:>6}"
        )
    print("\nbefore: times from the safety sync's start (beat every 15 min; the mailbox waited up")
    print("to that long first); after: times from the registration's POST.")
    for label, out in rows:
        ops = out["aurinko"]["byOperation"]
        print(f"{label}: Aurinko {dict(sorted(ops.items()))}")


if __name__ == "__main__":
    main()
