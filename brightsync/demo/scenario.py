"""What the demo does, step by step: an organisation with three mailboxes, mail between
colleagues, customers and a CRM lead, a shared meeting moved by its organizer, an event made in
the CRM, a task's round trip and an address book meeting the CRM's."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from brightsync.demo.harness import CRM_TOKEN, Harness

PEOPLE = (("alice", "imap"), ("bob", "office365"), ("carol", "imap"))
# The two-way services every demo mailbox syncs besides email.
TWO_WAY = ("calendar", "tasks", "contacts")
# alice's address book before she joins: a near-duplicate of the CRM's Dave Customer (nickname,
# another address, the same phone written differently, the same company), a grey case (the
# CRM's Mia Lopez under another address at the same domain) and someone the CRM lacks.
ADDRESS_BOOK = (
    {
        "name": {"givenName": "David", "familyName": "Customer"},
        "emailAddresses": [{"address": "d.customer@customer.com"}],
        "phoneNumbers": [{"number": "(415) 555-0142"}],
        "company": {"name": "Customer Inc"},
    },
    {
        "name": {"givenName": "Mia", "familyName": "Lopez"},
        "emailAddresses": [{"address": "m.lopez@customer.com"}],
    },
    {
        "name": {"givenName": "Gina", "familyName": "Newclient"},
        "emailAddresses": [{"address": "gina@newclient.io"}],
    },
)
ZONE = "Europe/Berlin"


# The customer's proposal: a small PDF (one page of text), logged with its bytes.
PROPOSAL_PDF = (
    (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length 44>>stream\n"
        b"BT /F1 24 Tf 72 760 Td (Q3 proposal) Tj ET\nendstream endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    + b"%"
    + b" customer terms " * 2000
    + b"\n"
)


def local_time(days: int, hour: int) -> dict[str, str]:
    """An Aurinko date-time `days` from today at `hour` o'clock in the demo's time zone."""
    zone = ZoneInfo(ZONE)
    day = datetime.now(UTC).astimezone(zone).date() + timedelta(days=days)
    when = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    return {"dateTime": when.isoformat(), "timezone": ZONE}


def run(h: Harness) -> dict[str, Any]:
    """The whole scenario on a started harness; what the report needs: the mails sent, the
    meeting, the task, and each phase's simulator statistics."""
    h.step("registering organisation Acme (acme.com) with the reference CRM")
    org = h.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": h.crm.url, "authType": "bearer", "token": CRM_TOKEN},
            "settings": {"email": {"contactCreation": "sent", "createCompanies": True}},
        },
    )
    h.org_id = org["id"]
    h.crm_call(
        "POST",
        "/_control/seed",
        json={
            "companies": [
                {"id": "co-customer", "name": "Customer Inc", "domains": ["customer.com"]}
            ],
            # The CRM knows the three colleagues as users: meetings name them as attendees,
            # tasks and contacts belong to their owner.
            "users": [
                {"id": f"u-{name}", "email": f"{name}@acme.com", "name": name.title()}
                for name, _ in PEOPLE
            ],
            "contacts": [
                {
                    "ownerId": "u-alice",
                    "firstName": "Dave",
                    "lastName": "Customer",
                    "emailAddresses": ["dave@customer.com"],
                    "phoneNumbers": ["+1 415 555 0142"],
                    "companyId": "co-customer",
                },
                {
                    "ownerId": "u-alice",
                    "firstName": "Mia",
                    "lastName": "Lopez",
                    "emailAddresses": ["mia.lopez@customer.com"],
                },
            ],
            # Someone the CRM knows only as a lead (not yet a contact).
            "leads": [
                {
                    "firstName": "Lena",
                    "lastName": "Lead",
                    "emailAddresses": ["lena@leadco.io"],
                    "company": "Leadco",
                }
            ],
            "opportunities": [
                {
                    "name": "Customer renewal",
                    "stage": "proposal",
                    "isClosed": False,
                    "companyId": "co-customer",
                }
            ],
        },
    )
    h.users = {}
    h.accounts = {}
    services = ["email", *TWO_WAY]
    h.phase_stats()  # the first syncs' calls are counted from here
    for name, provider in PEOPLE:
        acct = h.sim(
            "POST",
            "/_control/accounts",
            json={"email": f"{name}@acme.com", "name": name.title(), "provider": provider},
        )
        if name == "alice":
            for contact in ADDRESS_BOOK:
                h.sim("POST", f"/_control/accounts/{acct['id']}/contacts", json=contact)
        if name == "carol":  # as a provider's user would: a connect link, Aurinko's sign-in
            user_id, _ = h.connect(
                {
                    "email": f"{name}@acme.com",
                    "crmUserId": f"u-{name}",
                    "services": services,
                    "serviceType": "IMAP",
                }
            )
            how = "connected through a connect link (Aurinko's OAuth flow)"
        else:  # an Aurinko token the provider obtained itself
            user_id = h.admin(
                "POST",
                f"/api/v1/orgs/{h.org_id}/users",
                json={
                    "email": f"{name}@acme.com",
                    "crmUserId": f"u-{name}",
                    "aurinkoAccountId": acct["id"],
                    "aurinkoAccessToken": acct["accessToken"],
                    "services": services,
                },
            )["id"]
            how = "registered"
        # Subscriptions are created by the worker after registration answers.
        user = h.wait(lambda uid=user_id: h.subscribed(uid), 60, f"{name}'s subscriptions")
        subs = user["subscriptions"]
        ok = sum(1 for s in subs if s["state"] == "active")
        h.users[name] = user
        h.accounts[name] = acct
        h.step(
            f"mailbox {name}@acme.com ({provider}) {how} for {', '.join(services)}; "
            f"webhook subscriptions verified: {ok}/{len(subs)}"
        )
    h.step(
        "first syncs, started by each registration: calendars and task lists (nothing to "
        "carry yet); alice's address book (David Customer, Mia Lopez, Gina Newclient) meets "
        "the CRM's (Dave Customer, Mia Lopez)"
    )
    h.wait(h.first_synced, 120, "every service's first sync")
    result: dict[str, Any] = {"stats": {"contacts": h.phase_stats()}}

    mails: list[tuple[str, dict[str, Any]]] = []

    def send(label: str, **msg: Any) -> dict[str, Any]:
        msg.setdefault("bodyType", "html")
        out = h.sim("POST", "/_control/mail", json=msg)
        mails.append((label, out))
        return out

    def who(addr: str, name: str = "") -> dict[str, str]:
        return {"address": addr, "name": name or addr.split("@")[0].title()}

    h.step("delivering mail: a customer writes to alice, cc bob and carol")
    quote = send(
        "customer to 3 colleagues",
        **{
            "from": who("dave@customer.com", "Dave Customer"),
            "to": [who("alice@acme.com")],
            "cc": [who("bob@acme.com"), who("carol@acme.com")],
            "subject": "Quote for Q3",
            "body": "<p>Hi team, our <b>Q3 proposal</b> is attached. Could you quote?</p>"
            '<img src="cid:logo@customer.com">',
            "attachments": [
                {
                    "name": "Q3-proposal.pdf",
                    "mimeType": "application/pdf",
                    "content": base64.b64encode(PROPOSAL_PDF).decode(),
                },
                {  # the signature logo: part of the body, never sent as a file
                    "name": "logo.png",
                    "mimeType": "image/png",
                    "inline": True,
                    "contentId": "logo@customer.com",
                    "content": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 600).decode(),
                },
            ],
        },
    )
    send(
        "bob replies from his mailbox",
        **{
            "from": who("bob@acme.com"),
            "to": [who("dave@customer.com", "Dave Customer")],
            "subject": "Re: Quote for Q3",
            "body": "<p>Attached, Dave.</p>",
            "inReplyTo": quote["internetMessageId"],
            "references": quote["internetMessageId"],
        },
    )
    send(
        "internal chat",
        **{
            "from": who("alice@acme.com"),
            "to": [who("bob@acme.com")],
            "subject": "Lunch?",
            "body": "<p>12:30?</p>",
        },
    )
    send(
        "newsletter",
        **{
            "from": who("news@deals.example"),
            "to": [who("carol@acme.com")],
            "subject": "Weekly deals",
            "body": "<p>Sale!</p>",
            "headers": [{"name": "List-Unsubscribe", "value": "<mailto:unsub@deals.example>"}],
        },
    )
    send(
        "meeting invitation",
        **{
            "from": who("dave@customer.com"),
            "to": [who("alice@acme.com")],
            "subject": "Invitation: call",
            "body": "<p>call</p>",
            "meetingMessageMethod": "request",
        },
    )
    erin = send(
        "unknown prospect",
        **{
            "from": who("erin@prospect.io", "Erin Prospect"),
            "to": [who("alice@acme.com")],
            "subject": "Intro",
            "body": "<p>Hello from Prospect</p>",
        },
    )
    send(
        "a lead's enquiry",
        **{
            "from": who("lena@leadco.io", "Lena Lead"),
            "to": [who("alice@acme.com")],
            "subject": "Pricing for 50 seats?",
            "body": "<p>Could you send me your pricing?</p>",
        },
    )
    send(
        "alice writes to a new company",
        **{
            "from": who("alice@acme.com"),
            "to": [who("frank.newman@mail.newco.co.uk", "Frank Newman")],
            "subject": "Welcome aboard",
            "body": "<p>Great to meet you, Frank</p>",
        },
    )

    h.step("waiting for webhooks → worker syncs → CRM writes")
    h.settle([m["internetMessageId"] for _, m in mails])
    h.step("Erin's contact is created in the CRM; running the daily sync-cache retry now")
    h.crm_call(
        "POST",
        "/_control/seed",
        json={
            "contacts": [
                {
                    "firstName": "Erin",
                    "lastName": "Prospect",
                    "emailAddresses": ["erin@prospect.io"],
                }
            ]
        },
    )
    from brightsync.celery import app

    app.send_task("brightsync.unmatched.retry", kwargs={"force": True})
    h.wait(
        lambda: h.decision(erin["internetMessageId"]).get("state") == "logged",
        90,
        "the cached email to be logged",
    )
    result["mails"] = mails
    result["stats"]["email"] = h.phase_stats()
    result["meeting"] = meetings(h)
    result["stats"]["calendar"] = h.phase_stats()
    result["task"] = tasks(h)
    result["stats"]["tasks"] = h.phase_stats()
    return result


def meetings(h: Harness) -> dict[str, Any]:
    """One meeting in three calendars, moved by its organizer; one event made in the CRM."""
    h.step("alice invites bob, carol and Dave (the customer) to a meeting")
    meeting = h.sim(
        "POST",
        "/_control/meetings",
        json={
            "organizer": {"address": "alice@acme.com"},
            "subject": "Q3 quote review",
            "start": local_time(3, 10),
            "end": local_time(3, 11),
            "meetingInfo": {
                "attendees": [
                    {"emailAddress": {"address": a}}
                    for a in ("bob@acme.com", "carol@acme.com", "dave@customer.com")
                ]
            },
            "responses": {"dave@customer.com": "accepted"},
        },
    )
    h.sync({name: ("calendar",) for name, _ in PEOPLE})
    h.step("alice moves it to 14:00; in the CRM, an event is made for alice and Dave")
    h.sim(
        "PATCH",
        f"/_control/meetings/{meeting['iCalUid']}",
        json={"start": local_time(3, 14), "end": local_time(3, 15)},
    )
    (dave,) = [c for c in h.crm_records("contacts") if "dave@customer.com" in c["emailAddresses"]]
    start = datetime.fromisoformat(local_time(6, 9)["dateTime"])
    made = h.crm_user(
        "events.create",
        "POST",
        "/api/v1/events",
        json={
            "subject": "Contract signing",
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(hours=1)).isoformat(),
            "attendees": [
                {"userId": "u-alice", "emailAddress": "alice@acme.com"},
                {"contactId": dave["id"], "emailAddress": "dave@customer.com"},
            ],
        },
    )
    h.sync({"alice": ("calendar",)})
    return {"iCalUid": meeting["iCalUid"], "copies": meeting["copies"], "crmMade": made}


def tasks(h: Harness) -> dict[str, Any]:
    """A task made in alice's mailbox reaches the CRM; its completion there comes back."""
    h.step("alice adds a task in her mailbox: send Dave the Q3 quote")
    url = f"/_control/accounts/{h.accounts['alice']['id']}/tasks"
    task = h.sim("POST", url, json={"title": "Send Dave the Q3 quote", "importance": "high"})
    h.sync({"alice": ("tasks",)})
    crm = [t for t in h.crm_records("tasks") if t["subject"] == task["title"]]
    if crm:
        h.step("the task is completed in the CRM")
        h.crm_user(
            "tasks.update",
            "PATCH",
            f"/api/v1/tasks/{crm[0]['id']}",
            json={"status": "completed"},
        )
        h.sync({"alice": ("tasks",)})
    return {"mailboxId": task["id"], "title": task["title"]}
