"""`brightsync demo` on a fresh working directory: the README's first command."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import clean_environ


@pytest.mark.integration
def test_demo_runs_end_to_end_and_reports(tmp_path):
    env = clean_environ()
    result = subprocess.run(
        [sys.executable, "-m", "brightsync", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "7/7 messages decided" in out
    rows = {
        line.split("  ")[0].strip(): line
        for line in out.splitlines()
        if line.startswith(
            (
                "customer to",
                "bob replies",
                "internal chat",
                "newsletter",
                "meeting invitation",
                "unknown prospect",
                "alice writes",
            )
        )
    }
    assert "logged" in rows["customer to 3 colleagues"]
    assert "carol, bob, alice" in rows["customer to 3 colleagues"] or all(
        n in rows["customer to 3 colleagues"] for n in ("alice", "bob", "carol")
    )
    assert (
        " T1 " in rows["customer to 3 colleagues"]
        and " T1 " in rows["bob replies from his mailbox"]
    )
    assert "internal" in rows["internal chat"] and "bulk" in rows["newsletter"]
    assert "meeting" in rows["meeting invitation"]
    assert "logged" in rows["unknown prospect"]
    assert "Auto-created: contact Frank Newman at company Newco" in out
    assert "Sync cache now holds 0 item(s)" in out
    # The contacts sync links the mailbox's near-duplicate instead of creating it.
    assert "share an address: linked, not duplicated (1 in the CRM, now" in out
    assert "Customer' with 2 addresses)" in out
    assert "'Gina Newclient' created in the CRM: 1" in out
    # Ten copies were delivered; only owners' IMAP copies are loaded (Office 365 returns
    # bodies in the sync itself), so far fewer bodies than copies are ever fetched.
    match = re.search(
        r"Copies delivered to mailboxes: (\d+); bodies loaded from Aurinko: (\d+)", out
    )
    assert match, out
    copies, loads = int(match[1]), int(match[2])
    # 2 or 3 for the four logged messages, as their owner is bob (Office 365) or not.
    assert copies == 10 and 2 <= loads <= 3
    assert "Traceback" not in result.stderr
