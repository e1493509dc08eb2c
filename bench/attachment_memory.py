"""Peak worker memory logging an email with a large attachment, against the same email without
it, in the same run.

One mailbox receives one email from a known customer; a fresh worker process (the real email
run: claim, match, fetch, create or upload) logs it to the reference CRM, and reports its own
peak RSS. Three runs: the email without a file (the baseline), with a file of `--mib` MiB
uploaded separately (`POST /emails/{id}/attachments`, the connector offers it), and with the
same file sent inside the email (`attachments[].content`, uploads switched off by the org's
capability override). Target: the file adds at most 3x its size to the peak.

    python bench/attachment_memory.py [--mib 10]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
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
    seed_crm,
    simulators,
    wipe_tables,
)


def child(user_id: int) -> None:
    """Run in the worker-like process: log the mailbox's mail, print the peak RSS."""
    from brightsync.domains import run_service

    result = run_service(user_id, "email")
    print(json.dumps({"peakKiB": peak_kib(), "result": result}, default=str))


def peak_kib() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec
    from the parent (here the simulators, holding the file), VmHWM starts afresh."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one_run(aurinko: str, crm: str, data: bytes | None, upload: bool) -> dict[str, Any]:
    reset_simulators(aurinko, crm)
    wipe_tables()
    seed_crm(
        crm,
        {"contacts": [{"firstName": "Dave", "emailAddresses": ["dave@customer.com"]}]},
    )
    (account,) = add_accounts(aurinko, 1, "imap")
    attachments = (
        [
            {
                "name": "proposal.pdf",
                "mimeType": "application/pdf",
                "content": base64.b64encode(data).decode(),
            }
        ]
        if data is not None
        else []
    )
    requests.post(
        aurinko + "/_control/mail",
        timeout=120,
        json={
            "from": {"address": "dave@customer.com", "name": "Dave"},
            "to": [{"address": account["email"]}],
            "subject": "Proposal",
            "body": "<p>Our proposal</p>",
            "bodyType": "html",
            "attachments": attachments,
        },
    ).raise_for_status()
    (user_id,) = add_org(crm, [account], ["email"])
    if not upload:
        _no_uploads()
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(user_id)],
        env=os.environ,
        stdout=subprocess.PIPE,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    emails = requests.get(crm + "/_control/records/emails", timeout=30).json()
    report["exact"] = _exact(crm, emails, data)
    return report


def _no_uploads() -> None:
    """The org's capability override: files travel inside the email."""
    from brightsync.db import session_scope
    from brightsync.models import Organisation

    with session_scope() as s:
        for org in s.query(Organisation):
            org.settings = {"crm": {"capabilities": {"email_attachments": False}}}


def _exact(crm: str, emails: list[dict[str, Any]], data: bytes | None) -> bool:
    """The one logged email carries the file's exact bytes (or no file for the baseline)."""
    if len(emails) != 1:
        return False
    files = emails[0]["attachments"]
    if data is None:
        return files == []
    if len(files) != 1 or files[0].get("missing"):
        return False
    got = requests.get(
        f"{crm}/api/v1/emails/{emails[0]['id']}/attachments/{files[0]['id']}",
        headers={"Authorization": f"Bearer {CRM_TOKEN}"},
        timeout=60,
    ).content
    return hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=10)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        logging.disable(logging.WARNING)
        return child(args.child)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-bench-"))
    size = int(args.mib * 1024 * 1024)
    data = os.urandom(size)  # incompressible, like a real PDF's streams
    with simulators(page_size=100) as (aurinko, crm):
        configure(workdir, aurinko)
        runs = [
            ("no file (baseline)", one_run(aurinko, crm, None, upload=True)),
            (f"{args.mib:g} MiB file, uploaded", one_run(aurinko, crm, data, upload=True)),
            (f"{args.mib:g} MiB file, in the email", one_run(aurinko, crm, data, upload=False)),
        ]
    base = runs[0][1]["peakKiB"]
    print(f"\nPeak worker RSS logging one email ({size:,}-byte file), same run")
    print(f"{'run':<28} {'peak RSS MiB':>12} {'over baseline MiB':>18} {'x file':>7} {'exact':>6}")
    ok = True
    for name, report in runs:
        peak = report["peakKiB"]
        over = (peak - base) / 1024
        ratio = over * 1024 * 1024 / size if "file" in name and "no file" not in name else 0
        print(
            f"{name:<28} {peak / 1024:>12.1f} {over:>18.1f} {ratio:>7.2f} "
            f"{'yes' if report['exact'] else 'NO':>6}"
        )
        ok = ok and report["exact"] and ratio <= 3
    print(f"\nTarget: a file adds at most 3x its size to the peak: {'MET' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
