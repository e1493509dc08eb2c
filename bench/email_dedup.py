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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    CRM_TOKEN,
    add_accounts,
    add_org,
    configure,
    reset_simulators,
    reset_stats,
    simulators,
    stats,
    wipe_tables,
)


def scenario(aurinko: str, crm: str, n: int, m: int) -> list[dict[str, Any]]:
    """N colleagues, M messages from dave to all of them; returns the accounts."""
    reset_simulators(aurinko, crm)
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
    accounts = add_accounts(aurinko, n, "imap")
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
    reset_stats(aurinko, crm)
    return accounts


def counts(aurinko: str, crm: str) -> tuple[int, int, int]:
    a = stats(aurinko)["byOperation"]
    c = stats(crm)
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
    from brightsync.sync.jobs import run_once

    wipe_tables()
    ids = add_org(crm, accounts, ["email"])
    for uid in ids:
        result = run_once(uid, "email")
        assert result["status"] == "ok", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--recipients", default="1,5,20")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-bench-"))
    m = args.messages
    rows = []
    with simulators(page_size=100) as (aurinko, crm):
        configure(workdir, aurinko)
        for n in [int(x) for x in args.recipients.split(",")]:
            for name, fn in (("naive per-mailbox", naive), ("BrightSync", brightsync)):
                accounts = scenario(aurinko, crm, n, m)
                started = time.perf_counter()
                fn(aurinko, crm, accounts)
                elapsed = time.perf_counter() - started
                loads, crm_calls, logged = counts(aurinko, crm)
                rows.append((n, name, loads / m, crm_calls / max(1, logged), logged, elapsed))
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
