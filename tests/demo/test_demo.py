"""`brightsync demo` on a fresh working directory: the README's first command.

Run with `--keep`, so the report's lines are checked against the records both simulators
held at the end (records.json), not only against the text printed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import clean_environ


@pytest.mark.integration
def test_demo_runs_end_to_end_and_reports(tmp_path):
    env = clean_environ()
    result = subprocess.run(
        [sys.executable, "-m", "brightsync", "demo", "--keep"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout
    kept = re.search(r"kept in (\S+)", out)
    try:
        assert result.returncode == 0, out + result.stderr
        assert kept, out
        records = json.loads((Path(kept[1]) / "records.json").read_text())
        check_email(out, result.stderr)
        check_two_way(out, records)
    finally:
        if kept:
            shutil.rmtree(kept[1], ignore_errors=True)


def check_email(out: str, err: str) -> None:
    assert "8/8 messages decided" in out
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
                "a lead's enquiry",
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
    assert "lead Lena Lead (Leadco)" in rows["a lead's enquiry"]
    assert "logged at once against lead Lena Lead (Leadco)" in out
    assert "not parked; contacts made for her: 0." in out
    assert "byte for byte: yes; fetched from Aurinko 1 time(s) for 3 mailboxes" in out
    assert "(1 file(s) in the CRM)" in out
    # Eleven copies were delivered; only owners' IMAP copies are loaded (Office 365 returns
    # bodies in the sync itself), so far fewer bodies than copies are ever fetched.
    match = re.search(
        r"Copies delivered to mailboxes: (\d+); bodies loaded from Aurinko: (\d+)", out
    )
    assert match, out
    copies, loads = int(match[1]), int(match[2])
    # 3 or 4 for the five logged messages, as their owner is bob (Office 365) or not.
    assert copies == 11 and 3 <= loads <= 4
    assert "Traceback" not in err


def row(out: str, label: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(label)]
    return line


def check_two_way(out: str, records: dict) -> None:
    crm, boxes = records["crm"], records["mailboxes"]

    # One meeting in three calendars is one CRM event, with everyone on it.
    shared = [e for e in crm["events"] if e["subject"] == "Q3 quote review"]
    assert len(shared) == 1, shared
    event = shared[0]
    assert sorted(a["emailAddress"] for a in event["attendees"]) == [
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
        "dave@customer.com",
    ]
    assert len(event["relatedTo"]["contacts"]) == 1
    for name in ("alice", "bob", "carol"):
        copies = [e for e in boxes[name]["events"] if e.get("subject") == "Q3 quote review"]
        assert len(copies) == 1, (name, copies)
    meeting = row(out, "meeting in 3 calendars")
    assert " synced " in meeting and f"1 CRM event {event['id']}: 4 attendees" in meeting

    # The organizer's time change reached it.
    starts = datetime.fromisoformat(event["startTime"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (starts.hour, starts.minute) == (14, 0), event["startTime"]
    assert " updated " in row(out, "organizer moves it")
    assert f"{event['id']} starts 14:00 Europe/Berlin" in row(out, "organizer moves it")

    # The CRM-made event is in its owner's calendar once, and nowhere else; no echo back.
    made = [e for e in crm["events"] if e["subject"] == "Contract signing"]
    assert len(made) == 1
    assert [e.get("subject") for e in boxes["alice"]["events"]].count("Contract signing") == 1
    for name in ("bob", "carol"):
        assert "Contract signing" not in [e.get("subject") for e in boxes[name]["events"]]
    assert " created " in row(out, "event made in the CRM")
    assert len(crm["events"]) == 2

    # The task's round trip: made in alice's mailbox, one CRM task of hers, completed there,
    # completed back in her mailbox.
    title = "Send Dave the Q3 quote"
    tasks = [t for t in crm["tasks"] if t["subject"] == title]
    assert len(tasks) == 1, crm["tasks"]
    task = tasks[0]
    assert task["ownerId"] == "u-alice" and task["status"] == "completed"
    assert task["priority"] == "high"
    (mine,) = [t for t in boxes["alice"]["tasks"] if t["title"] == title]
    assert mine["status"] == "completed"
    assert boxes["bob"]["tasks"] == [] and boxes["carol"]["tasks"] == []
    assert f"1 CRM task {task['id']}, owner u-alice" in row(out, "task made in alice's mailbox")
    assert " updated " in row(out, "task completed in the CRM")

    # Writes as counted by the simulators: the CRM event created once and moved once, one
    # event written to a mailbox (the CRM-made one); the task created in the CRM, completed
    # in the mailbox (the CRM takes the completion time back from the mailbox).
    cal = re.search(
        r"Calendar: 3 copies of one meeting → (\d+) CRM event\(s\); "
        r"writes: CRM (\d+), mailboxes (\d+); API calls: Aurinko (\d+), CRM (\d+)",
        out,
    )
    assert cal, out
    assert (int(cal[1]), int(cal[2]), int(cal[3])) == (1, 2, 1)
    todo = re.search(
        r"Tasks: writes: CRM (\d+), mailboxes (\d+); API calls: Aurinko (\d+), CRM (\d+)", out
    )
    assert todo, out
    assert 1 <= int(todo[1]) <= 2 and int(todo[2]) == 1
    check_contacts(out, records)


def check_contacts(out: str, records: dict) -> None:
    crm, alice = records["crm"]["contacts"], records["mailboxes"]["alice"]["contacts"]

    def named(contacts: list[dict], last: str) -> list[dict]:
        return [
            c
            for c in contacts
            if last in (c.get("lastName"), (c.get("name") or {}).get("familyName"))
        ]

    def addresses(contact: dict) -> list[str]:
        return sorted(a["address"] if isinstance(a, dict) else a for a in contact["emailAddresses"])

    # alice's "David Customer" is the CRM's Dave: linked and merged, on neither side twice.
    (dave,) = named(crm, "Customer")
    (david,) = named(alice, "Customer")
    assert addresses(dave) == addresses(david) == ["d.customer@customer.com", "dave@customer.com"]
    assert len(dave["phoneNumbers"]) == 1
    assert " linked " in row(out, "David Customer (alice's)")
    assert f"to CRM {dave['id']} " in row(out, "David Customer (alice's)")

    # Mia Lopez is a grey case: nothing created on either side, the pair listed for review.
    (mia_crm,) = named(crm, "Lopez")
    (mia_box,) = named(alice, "Lopez")
    assert addresses(mia_crm) == ["mia.lopez@customer.com"]
    assert addresses(mia_box) == ["m.lopez@customer.com"]
    (pair,) = records["possibleDuplicates"]
    assert {pair["a"]["record"]["lastName"], pair["b"]["record"]["lastName"]} == {"Lopez"}
    assert 0 < pair["score"] < 1 and pair["reasons"]
    mia = row(out, "Mia Lopez (alice's)")
    assert " review " in mia and f"of CRM {mia_crm['id']} (score {pair['score']:.2f})" in mia

    # Someone the CRM lacked is created once, owned by alice; bob and carol own no contacts.
    (gina,) = named(crm, "Newclient")
    assert gina["ownerId"] == "u-alice"
    assert f" created   CRM contact {gina['id']}, owner u-alice" in row(out, "Gina Newclient")
    assert records["mailboxes"]["bob"]["contacts"] == []
    assert records["mailboxes"]["carol"]["contacts"] == []
    people = re.search(
        r"Contacts: alice's 3 contacts met the CRM's; (\d+) possible duplicate\(s\) listed for "
        r"review; writes: CRM (\d+), mailboxes (\d+)",
        out,
    )
    assert people, out
    # Dave merged and Gina created in the CRM; David's new address written to the mailbox.
    assert (int(people[1]), int(people[2]), int(people[3])) == (1, 2, 1)
