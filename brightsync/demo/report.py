"""What the demo prints at the end, read back from both sides as they are then: the email
decisions, the calendar, tasks and contacts, and the API calls each phase cost."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import requests

from brightsync.demo.harness import CRM_TOKEN, Harness, calls
from brightsync.demo.scenario import ADDRESS_BOOK, PROPOSAL_PDF, ZONE


def writes(stats: dict[str, Any], prefix: str) -> int:
    """Creates, updates and deletes of one record kind (`event`, `task`...) in a simulator's
    statistics: the simulators name operations `<kind>[s].<verb>`."""
    return sum(
        n
        for op, n in stats.get("byOperation", {}).items()
        if op.split(".")[0].rstrip("s") == prefix
        and op.split(".")[-1] in ("create", "update", "delete")
    )


def report(h: Harness, result: dict[str, Any]) -> str:
    lines = ["", click.style("What happened", bold=True), ""]
    names = {u["id"]: n for n, u in h.users.items()}
    threads: dict[str, str] = {}
    header = f"{'message':<31} {'decision':<9} {'why / where':<40} {'thread':<6} seen by"
    lines += [header, "-" * len(header)]
    for label, mail in result["mails"]:
        d = h.decision(mail["internetMessageId"])
        thread = d.get("syncThreadId")
        tag = threads.setdefault(thread, f"T{len(threads) + 1}") if thread else "-"
        state = d.get("state", "?")
        if state == "logged" and d.get("leads"):
            why = f"CRM email {d['crmEmailId']}: lead {d['leads'][0]['name']}"
        elif state == "logged":
            rel = d.get("relatedTo") or {}
            why = (
                f"CRM email {d['crmEmailId']}: {len(rel.get('contacts', []))} contact(s), "
                f"{len(rel.get('opportunities', []))} opp."
            )
        else:
            why = d.get("reason") or ""
        seen = ", ".join(names.get(u, str(u)) for u in d.get("seenBy", []))
        lines.append(f"{label:<31} {state:<9} {why[:40]:<40} {tag:<6} {seen}")
    stats = result["stats"]["email"]["aurinko"]
    crm_stats = result["stats"]["email"]["crm"]
    by_op = stats.get("byOperation", {})
    crm_ops = crm_stats.get("byOperation", {})
    cache = h.admin("GET", f"/api/v1/orgs/{h.org_id}/unmatched")["items"]
    created = h.crm_call(
        "GET", "/api/v1/contacts/lookup", params={"emails": "frank.newman@mail.newco.co.uk"}
    )
    company = h.crm_call("GET", "/api/v1/companies/lookup", params={"domain": "newco.co.uk"})
    lines += [
        "",
        f"Copies delivered to mailboxes: {sum(len(m['copies']) for _, m in result['mails'])}; "
        f"bodies loaded from Aurinko: {by_op.get('message.get', 0)} "
        "(only the owner's copy of a message is ever loaded).",
        f"Emails written to the CRM: {crm_ops.get('emails.create', 0)}; CRM calls in all: "
        f"{crm_stats.get('total', sum(crm_ops.values()))}.",
        f"Auto-created: contact {created[0]['firstName']} {created[0]['lastName']} "
        f"at company {company[0]['name'] if company else '(none)'}"
        if created
        else "Auto-created: nothing",
        f"Sync cache now holds {len(cache)} item(s); Erin's email was logged by the retry "
        "once her contact appeared.",
        lead_line(h, result),
        proposal_line(h, result, by_op.get("message.attachment", 0)),
    ]
    lines += two_way_report(h, result)
    return "\n".join(lines)


def lead_line(h: Harness, result: dict[str, Any]) -> str:
    """The lead's enquiry: logged against the lead at once, and no contact made for her."""
    ((_, mail),) = [m for m in result["mails"] if m[0] == "a lead's enquiry"]
    d = h.decision(mail["internetMessageId"])
    made = h.crm_call("GET", "/api/v1/contacts/lookup", params={"emails": "lena@leadco.io"})
    leads = d.get("leads") or []
    if d.get("state") != "logged" or not leads:
        return f"Lead's enquiry: {d.get('state')} ({d.get('reason') or 'no lead'})"
    return (
        f"Lead's enquiry: logged at once against lead {leads[0]['name']} ({leads[0]['id']}), "
        f"not parked; contacts made for her: {len(made)}."
    )


def proposal_line(h: Harness, result: dict[str, Any], fetches: int) -> str:
    """The customer's proposal PDF: in the CRM byte for byte, fetched once, no logo."""
    (_, quote) = result["mails"][0]
    found = h.crm_call("GET", "/api/v1/emails", params={"rfc822MsgId": quote["internetMessageId"]})
    emails = found if isinstance(found, list) else found.get("records", [])
    files = emails[0]["attachments"] if emails else []
    pdf = [f for f in files if f.get("name") == "Q3-proposal.pdf" and f.get("id")]
    if not pdf:
        return "Files: the proposal PDF is not in the CRM"
    served = requests.get(
        f"{h.crm.url}/api/v1/emails/{emails[0]['id']}/attachments/{pdf[0]['id']}",
        headers={"Authorization": f"Bearer {CRM_TOKEN}"},
        timeout=60,
    ).content
    same = "yes" if served == PROPOSAL_PDF else "NO"
    return (
        f"Files: Q3-proposal.pdf ({len(served):,} bytes) is on CRM email {emails[0]['id']}, "
        f"byte for byte: {same}; fetched from Aurinko {fetches} time(s) for 3 mailboxes; "
        f"the inline logo stayed in the body ({len(files)} file(s) in the CRM)."
    )


def two_way_report(h: Harness, result: dict[str, Any]) -> list[str]:
    """Calendar and tasks, read back from both sides as they are now."""
    zone = ZoneInfo(ZONE)
    m = result["meeting"]
    events = h.crm_records("events")
    shared = [e for e in events if e["subject"] == "Q3 quote review"]
    rows: list[tuple[str, str, str]] = []
    if len(shared) == 1:
        ev = shared[0]
        rel = ev.get("relatedTo") or {}
        rows.append(
            (
                f"meeting in {len(m['copies'])} calendars",
                "synced",
                f"1 CRM event {ev['id']}: {len(ev['attendees'])} attendees, "
                f"{len(rel.get('contacts', []))} contact(s), "
                f"{len(rel.get('opportunities', []))} opp.",
            )
        )
        starts = datetime.fromisoformat(ev["startTime"]).astimezone(zone)
        rows.append(
            (
                "organizer moves it",
                "updated" if starts.hour == 14 else "stale",
                f"CRM event {ev['id']} starts {starts:%H:%M} {ZONE}",
            )
        )
    else:
        rows.append(
            (f"meeting in {len(m['copies'])} calendars", "WRONG", f"{len(shared)} CRM events")
        )
    made = m["crmMade"]
    in_alice = [
        e for e in h.mailbox_records("alice", "events") if e.get("subject") == made["subject"]
    ]
    rows.append(
        (
            "event made in the CRM",
            "created" if len(in_alice) == 1 else "WRONG",
            f"{len(in_alice)} copy in alice's calendar ({made['id']} in the CRM)",
        )
    )
    t = result["task"]
    crm_tasks = [x for x in h.crm_records("tasks") if x["subject"] == t["title"]]
    box = {x["id"]: x for x in h.mailbox_records("alice", "tasks")}.get(t["mailboxId"], {})
    if len(crm_tasks) == 1:
        task = crm_tasks[0]
        rows.append(
            (
                "task made in alice's mailbox",
                "synced",
                f"1 CRM task {task['id']}, owner {task['ownerId']}, {task['priority']} priority",
            )
        )
        rows.append(
            (
                "task completed in the CRM",
                "updated" if box.get("status") == "completed" else "stale",
                f"CRM {task['status']}; alice's mailbox: {box.get('status', 'gone')}",
            )
        )
    else:
        rows.append(("task made in alice's mailbox", "WRONG", f"{len(crm_tasks)} CRM tasks"))

    rows += contacts_rows(h)
    header = f"{'calendar, tasks, contacts':<31} {'result':<9} why / where"
    lines = ["", header, "-" * 97]
    lines += [f"{label:<31} {state:<9} {why}" for label, state, why in rows]
    stats = result["stats"]
    cal, tasks, people = stats["calendar"], stats["tasks"], stats["contacts"]
    lines += [
        "",
        f"Calendar: {len(m['copies'])} copies of one meeting → {len(shared)} CRM event(s); "
        f"writes: CRM {writes(cal['crm'], 'event')}, "
        f"mailboxes {writes(cal['aurinko'], 'event')}; "
        f"API calls: Aurinko {calls(cal['aurinko'])}, CRM {calls(cal['crm'])}.",
        f"Tasks: writes: CRM {writes(tasks['crm'], 'task')}, "
        f"mailboxes {writes(tasks['aurinko'], 'task')}; "
        f"API calls: Aurinko {calls(tasks['aurinko'])}, CRM {calls(tasks['crm'])}.",
        f"Contacts: alice's {len(ADDRESS_BOOK)} contacts met the CRM's; "
        f"{len(h.open_duplicates())} possible duplicate(s) listed for review; "
        f"writes: CRM {writes(people['crm'], 'contact')}, "
        f"mailboxes {writes(people['aurinko'], 'contact')}; "
        f"API calls: Aurinko {calls(people['aurinko'])}, CRM {calls(people['crm'])}.",
    ]
    return lines


def contacts_rows(h: Harness) -> list[tuple[str, str, str]]:
    """What became of each contact of alice's address book, read from both sides."""
    crm = h.crm_records("contacts")
    book = h.mailbox_records("alice", "contacts")
    duplicates = h.open_duplicates()

    def named(records: list[dict[str, Any]], last: str) -> list[dict[str, Any]]:
        return [
            c
            for c in records
            if last in (c.get("lastName"), (c.get("name") or {}).get("familyName"))
        ]

    rows: list[tuple[str, str, str]] = []
    daves, davids = named(crm, "Customer"), named(book, "Customer")
    if len(daves) == 1 and len(davids) == 1:
        dave = daves[0]
        rows.append(
            (
                "David Customer (alice's)",
                "linked",
                f"to CRM {dave['id']} (was Dave, now {dave['firstName']}): "
                f"{len(dave['emailAddresses'])} addresses, {len(dave['phoneNumbers'])} phone",
            )
        )
    else:
        rows.append(
            (
                "David Customer (alice's)",
                "WRONG",
                f"{len(daves)} in the CRM, {len(davids)} in alice's mailbox",
            )
        )
    mias = named(crm, "Lopez")
    grey = [
        d
        for d in duplicates
        if {d["a"]["record"].get("lastName"), d["b"]["record"].get("lastName")} == {"Lopez"}
    ]
    rows.append(
        (
            "Mia Lopez (alice's)",
            "review" if len(mias) == 1 and len(grey) == 1 else "WRONG",
            f"possible duplicate of CRM {mias[0]['id']} (score {grey[0]['score']:.2f}): "
            f"{'; '.join(grey[0]['reasons'][:2])}"
            if grey and mias
            else f"{len(mias)} in the CRM, not listed for review",
        )
    )
    ginas = named(crm, "Newclient")
    rows.append(
        (
            "Gina Newclient (alice's)",
            "created" if len(ginas) == 1 else "WRONG",
            f"CRM contact {ginas[0]['id']}, owner {ginas[0]['ownerId']}"
            if len(ginas) == 1
            else f"{len(ginas)} in the CRM",
        )
    )
    return rows


def save_records(h: Harness, path: Path) -> None:
    """Both sides' records as the demo left them, for a look after the demo (--keep)."""
    records = {
        "crm": {kind: h.crm_records(kind) for kind in ("events", "tasks", "contacts")},
        "possibleDuplicates": h.open_duplicates(),
        "mailboxes": {
            name: {kind: h.mailbox_records(name, kind) for kind in ("events", "tasks", "contacts")}
            for name in h.users
        },
    }
    path.write_text(json.dumps(records, indent=1))
