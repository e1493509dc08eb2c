"""Email dedup benchmark: Aurinko body loads and CRM calls per logged email.

N internal recipients (1, 5, 20) each hold a copy of M messages from a known customer.
BrightSync (the real pipeline: claims, batched matching, look-before-create only on retry)
is compared with the naive per-mailbox approach (every mailbox loads every body, looks the
email up in the CRM and creates it if missing), both against the bundled simulators over
real HTTP, in the same run. Targets: body loads per unique email = 1.0 and CRM calls per
logged email <= 1.2, whatever N.

    python bench/email_dedup.py [--messages 40] [--recipients 1,5,20]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CRM_TOKEN = "bench-token"


def configure(workdir: Path, aurinko_url: str) -> None:
    os.environ.update(
        {
            "BRIGHTSYNC_INSTANCE_PATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            "CELERY_BROKER_URL": f"sqla+sqlite:///{workdir}/broker.db",
            "AURINKO_API_URL": aurinko_url,
            "BRIGHTSYNC_ENCRYPTION_KEY": "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c=",
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
        }
    )
    os.environ.pop("REDIS_URL", None)
    from brightsync import coordination, crypto, db
    from brightsync.config import reset_settings

    reset_settings()
    db.reset_engine()
    coordination.reset_coordinator()
    crypto.reset_keys()
    from brightsync.migrate import upgrade

    upgrade()


def scenario(aurinko: str, crm: str, n: int, m: int) -> list[dict[str, Any]]:
    """N colleagues, M messages from dave to all of them; returns the accounts."""
    requests.post(aurinko + "/_control/reset", timeout=30).raise_for_status()
    requests.post(crm + "/_control/reset", timeout=30).raise_for_status()
    requests.post(
        crm + "/_control/seed",
        timeout=30,
        json={
            "contacts": [
                {
                    "firstName": "Dave",
                    "lastName": "Customer",
                    "emailAddresses": ["dave@customer.com"],
                }
            ]
        },
    )
    accounts = []
    for i in range(n):
        r = requests.post(
            aurinko + "/_control/accounts",
            timeout=30,
            json={"email": f"user{i}@acme.com", "name": f"User {i}", "provider": "imap"},
        )
        accounts.append(r.json())
    recipients = [{"address": a["email"], "name": a["email"]} for a in accounts]
    for j in range(m):
        requests.post(
            aurinko + "/_control/mail",
            timeout=30,
            json={
                "from": {"address": "dave@customer.com", "name": "Dave Customer"},
                "to": recipients[:1],
                "cc": recipients[1:],
                "subject": f"Order {j}",
                "body": f"<p>order {j}</p>",
                "bodyType": "html",
            },
        ).raise_for_status()
    requests.post(aurinko + "/_control/stats/reset", timeout=30)
    requests.post(crm + "/_control/stats/reset", timeout=30)
    return accounts


def counts(aurinko: str, crm: str) -> tuple[int, int, int]:
    a = requests.get(aurinko + "/_control/stats", timeout=30).json()["byOperation"]
    c = requests.get(crm + "/_control/stats", timeout=30).json()
    logged = c["byOperation"].get("emails.create", 0)
    return a.get("message.get", 0), c.get("total", sum(c["byOperation"].values())), logged


def naive(aurinko: str, crm: str, accounts: list[dict[str, Any]]) -> None:
    from brightsync.clients.aurinko import AurinkoClient
    from brightsync.clients.crm import CrmClient

    client = CrmClient(crm, "bearer", {"token": CRM_TOKEN}, rate_key="bench", rate_limit=100000)
    for acct in accounts:
        mailbox = AurinkoClient.for_account(aurinko, acct["accessToken"], rate_limit=100000)
        tokens = mailbox.start_sync("email", days_within=30)
        for page in mailbox.delta_pages("email", "updated", tokens.updated_token):
            for msg in page.records:
                full = mailbox.get_message(msg["id"])
                rfc = full["internetMessageId"]
                if client.find_emails(rfc):
                    continue
                contacts = client.lookup_contacts([full["from"]["address"]])
                client.forget([full["from"]["address"]])  # a naive logger has no run cache
                client.create_email(
                    {
                        "rfc822MsgId": rfc,
                        "subject": full.get("subject"),
                        "textBody": full.get("body") or "",
                        "relatedTo": {"contacts": [c["id"] for c in contacts]},
                    }
                )


def brightsync(aurinko: str, crm: str, accounts: list[dict[str, Any]]) -> None:
    from brightsync.crypto import encrypt, encrypt_json
    from brightsync.db import session_scope
    from brightsync.models import Base, Organisation, User
    from brightsync.sync.jobs import run_once

    with session_scope() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    with session_scope() as s:
        org = Organisation(
            name="Acme",
            domains=["acme.com"],
            crm_base_url=crm,
            crm_auth_type="bearer",
            crm_secret_enc=encrypt_json({"token": CRM_TOKEN}),
            settings={},
        )
        s.add(org)
        s.flush()
        ids = []
        for acct in accounts:
            u = User(
                org_id=org.id,
                email=acct["email"],
                aurinko_account_id=str(acct["id"]),
                access_token_enc=encrypt(acct["accessToken"]),
                services=["email"],
            )
            s.add(u)
            s.flush()
            ids.append(u.id)
    for uid in ids:
        result = run_once(uid, "email")
        assert result["status"] == "ok", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--recipients", default="1,5,20")
    args = parser.parse_args()

    from brightsync.sandbox.aurinko import create_aurinko_app
    from brightsync.sandbox.crm import create_crm_app
    from brightsync.sandbox.server import ServerThread

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-bench-"))
    aurinko = ServerThread(create_aurinko_app(page_size=100)).start()
    crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
    configure(workdir, aurinko.url)
    m = args.messages
    rows = []
    try:
        for n in [int(x) for x in args.recipients.split(",")]:
            for name, fn in (("naive per-mailbox", naive), ("BrightSync", brightsync)):
                accounts = scenario(aurinko.url, crm.url, n, m)
                started = time.perf_counter()
                fn(aurinko.url, crm.url, accounts)
                elapsed = time.perf_counter() - started
                loads, crm_calls, logged = counts(aurinko.url, crm.url)
                rows.append((n, name, loads / m, crm_calls / max(1, logged), logged, elapsed))
    finally:
        aurinko.stop()
        crm.stop()
    print(f"\nEmail dedup: {m} messages, each held by N mailboxes (IMAP: bodies omitted in sync)")
    print(
        f"{'N':>3}  {'approach':<18} {'body loads/email':>16} {'CRM calls/logged':>17} "
        f"{'logged':>7} {'seconds':>8}"
    )
    for n, name, loads, calls, logged, secs in rows:
        print(f"{n:>3}  {name:<18} {loads:>16.2f} {calls:>17.2f} {logged:>7} {secs:>8.2f}")
    ours = [r for r in rows if r[1] == "BrightSync"]
    ok = all(abs(r[2] - 1.0) < 1e-9 and r[3] <= 1.2 and r[4] == m for r in ours)
    print(
        "\nTarget (BrightSync): body loads per unique email = 1.00, CRM calls per logged email "
        f"<= 1.20, every message logged once: {'MET' if ok else 'MISSED'}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
