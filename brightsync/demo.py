"""`brightsync demo`: the whole product, end to end, on embedded defaults and the sandbox.

Starts the Aurinko simulator and the reference CRM, the web app, a real Celery worker process
and beat, registers an organisation with three mailboxes (email, calendar, tasks, contacts),
drives a realistic scenario and prints what was synced, deduplicated, cached and why: mail
logged once for three colleagues, a shared meeting as one CRM event kept in step both ways, a
task's round trip between a mailbox and the CRM, an address book meeting the CRM's without a
duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import requests
from cryptography.fernet import Fernet

from brightsync.process import beat_command, reset_process_state, worker_command

CRM_TOKEN = "demo-crm-token"
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


def local_time(days: int, hour: int) -> dict[str, str]:
    """An Aurinko date-time `days` from today at `hour` o'clock in the demo's time zone."""
    zone = ZoneInfo(ZONE)
    day = datetime.now(UTC).astimezone(zone).date() + timedelta(days=days)
    when = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    return {"dateTime": when.isoformat(), "timezone": ZONE}


def calls(stats: dict[str, Any]) -> int:
    """API calls in a simulator's statistics."""
    return int(stats.get("total", sum(stats.get("byOperation", {}).values())))


def writes(stats: dict[str, Any], prefix: str) -> int:
    """Creates, updates and deletes of one record kind (`event`, `task`...) in a simulator's
    statistics: the simulators name operations `<kind>[s].<verb>`."""
    return sum(
        n
        for op, n in stats.get("byOperation", {}).items()
        if op.split(".")[0].rstrip("s") == prefix
        and op.split(".")[-1] in ("create", "update", "delete")
    )


class Demo:
    def __init__(self, workdir: Path, echo: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.echo = echo
        self.admin_token = secrets.token_urlsafe(16)
        self.signing_secret = secrets.token_urlsafe(16)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[Any] = []
        self.env: dict[str, str] = {}
        # CRM API calls the demo makes itself as a CRM user, per operation: not the product's.
        self.own_crm_calls: dict[str, int] = {}

    # -- plumbing -------------------------------------------------------------------------
    def step(self, text: str) -> None:
        self.echo(click.style("▸ ", fg="cyan") + text)

    def start(self) -> None:
        from brightsync.sandbox.aurinko import create_aurinko_app
        from brightsync.sandbox.crm import create_crm_app
        from brightsync.sandbox.server import DeferredApp, ServerThread

        self.step("starting the Aurinko simulator and the reference CRM")
        self.aurinko = ServerThread(create_aurinko_app(signing_secret=self.signing_secret)).start()
        self.crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
        self.servers += [self.aurinko, self.crm]

        web = DeferredApp()
        self.web = ServerThread(web)
        self.env = {
            "BRIGHTSYNC_INSTANCE_PATH": str(self.workdir),
            "DATABASE_URL": f"sqlite:///{self.workdir}/brightsync.db",
            "CELERY_BROKER_URL": f"sqla+sqlite:///{self.workdir}/broker.db",
            "AURINKO_API_URL": self.aurinko.url,
            "AURINKO_SIGNING_SECRET": self.signing_secret,
            "BRIGHTSYNC_ADMIN_TOKEN": self.admin_token,
            "BRIGHTSYNC_PUBLIC_URL": self.web.url,
            "BRIGHTSYNC_RETRY_BASE_SECONDS": "2",
            "BRIGHTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
        for key in ("REDIS_URL",):
            os.environ.pop(key, None)
        os.environ.update(self.env)
        reset_process_state()

        from brightsync.migrate import upgrade
        from brightsync.web import create_app

        self.step("creating the database (SQLite) and the embedded broker")
        upgrade()
        web.app = create_app()
        self.web.start()
        self.servers.append(self.web)
        self.step(f"web app on {self.web.url}; starting a Celery worker process and beat")
        env = {**os.environ, **self.env}
        log = open(self.workdir / "worker.log", "wb")
        # One worker process: the syncs run one at a time. Two runs creating the same meeting
        # at once are correct too, but the one that yields retries 30 s later.
        self.procs.append(
            subprocess.Popen(
                worker_command(concurrency=1), env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        beat_log = open(self.workdir / "beat.log", "wb")
        self.procs.append(
            subprocess.Popen(
                beat_command(self.workdir / "celerybeat-schedule"),
                env=env,
                stdout=beat_log,
                stderr=subprocess.STDOUT,
            )
        )
        self._wait(
            lambda: b"ready." in (self.workdir / "worker.log").read_bytes(),
            90,
            "the worker to start",
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in reversed(self.servers):
            s.stop()

    def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        raise click.ClickException(f"timed out waiting for {what}; logs in {self.workdir}")

    def _subscribed(self, user_id: int) -> dict[str, Any] | None:
        user = self.admin("GET", f"/api/v1/users/{user_id}")
        done = all(s["state"] != "pending" for s in user["subscriptions"])
        return user if done else None

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(
            method,
            self.web.url + path,
            timeout=60,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            **kw,
        )
        if r.status_code >= 400:
            raise click.ClickException(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def sim(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.aurinko.url + path, timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def crm_call(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(
            method,
            self.crm.url + path,
            timeout=60,
            headers={"Authorization": f"Bearer {CRM_TOKEN}"},
            **kw,
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def crm_user(self, op: str, method: str, path: str, **kw: Any) -> Any:
        """A change someone makes in the CRM; kept out of the product's API call counts."""
        self.own_crm_calls[op] = self.own_crm_calls.get(op, 0) + 1
        return self.crm_call(method, path, **kw)

    # -- the scenario ---------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.step("registering organisation Acme (acme.com) with the reference CRM")
        org = self.admin(
            "POST",
            "/api/v1/orgs",
            json={
                "name": "Acme",
                "domains": ["acme.com"],
                "crm": {"baseUrl": self.crm.url, "authType": "bearer", "token": CRM_TOKEN},
                "settings": {"email": {"contactCreation": "sent", "createCompanies": True}},
            },
        )
        self.org_id = org["id"]
        self.crm_call(
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
        self.users: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        services = ["email", *TWO_WAY]
        for name, provider in PEOPLE:
            acct = self.sim(
                "POST",
                "/_control/accounts",
                json={"email": f"{name}@acme.com", "name": name.title(), "provider": provider},
            )
            if name == "alice":
                for contact in ADDRESS_BOOK:
                    self.sim("POST", f"/_control/accounts/{acct['id']}/contacts", json=contact)
            user = self.admin(
                "POST",
                f"/api/v1/orgs/{self.org_id}/users",
                json={
                    "email": f"{name}@acme.com",
                    "crmUserId": f"u-{name}",
                    "aurinkoAccountId": acct["id"],
                    "aurinkoAccessToken": acct["accessToken"],
                    "services": services,
                },
            )
            # Subscriptions are created by the worker after registration answers.
            user = self._wait(
                lambda uid=user["id"]: self._subscribed(uid), 60, f"{name}'s subscriptions"
            )
            subs = user["subscriptions"]
            ok = sum(1 for s in subs if s["state"] == "active")
            self.users[name] = user
            self.accounts[name] = acct
            self.step(
                f"mailbox {name}@acme.com ({provider}) registered for {', '.join(services)}; "
                f"webhook subscriptions verified: {ok}/{len(subs)}"
            )
        self.step("first calendar and task list syncs (nothing to carry yet)")
        self._sync({name: ("calendar", "tasks") for name, _ in PEOPLE})
        self._phase_stats()
        self.step(
            "first contacts syncs: alice's address book (David Customer, Mia Lopez, "
            "Gina Newclient) meets the CRM's (Dave Customer, Mia Lopez)"
        )
        self._sync({name: ("contacts",) for name, _ in PEOPLE})
        result: dict[str, Any] = {"stats": {"contacts": self._phase_stats()}}

        mails: list[tuple[str, dict[str, Any]]] = []

        def send(label: str, **msg: Any) -> dict[str, Any]:
            msg.setdefault("bodyType", "html")
            out = self.sim("POST", "/_control/mail", json=msg)
            mails.append((label, out))
            return out

        def who(addr: str, name: str = "") -> dict[str, str]:
            return {"address": addr, "name": name or addr.split("@")[0].title()}

        self.step("delivering mail: a customer writes to alice, cc bob and carol")
        quote = send(
            "customer to 3 colleagues",
            **{
                "from": who("dave@customer.com", "Dave Customer"),
                "to": [who("alice@acme.com")],
                "cc": [who("bob@acme.com"), who("carol@acme.com")],
                "subject": "Quote for Q3",
                "body": "<p>Hi team, could you send the <b>Q3 quote</b>?</p>",
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
            "alice writes to a new company",
            **{
                "from": who("alice@acme.com"),
                "to": [who("frank.newman@mail.newco.co.uk", "Frank Newman")],
                "subject": "Welcome aboard",
                "body": "<p>Great to meet you, Frank</p>",
            },
        )

        self.step("waiting for webhooks → worker syncs → CRM writes")
        self._settle([m["internetMessageId"] for _, m in mails])
        self.step("Erin's contact is created in the CRM; running the daily sync-cache retry now")
        self.crm_call(
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
        self._wait(
            lambda: self._decision(erin["internetMessageId"]).get("state") == "logged",
            90,
            "the cached email to be logged",
        )
        result["mails"] = mails
        result["stats"]["email"] = self._phase_stats()
        result["meeting"] = self._meetings()
        result["stats"]["calendar"] = self._phase_stats()
        result["task"] = self._tasks()
        result["stats"]["tasks"] = self._phase_stats()
        return result

    def _meetings(self) -> dict[str, Any]:
        """One meeting in three calendars, moved by its organizer; one event made in the CRM."""
        self.step("alice invites bob, carol and Dave (the customer) to a meeting")
        meeting = self.sim(
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
        self._sync({name: ("calendar",) for name, _ in PEOPLE})
        self.step("alice moves it to 14:00; in the CRM, an event is made for alice and Dave")
        self.sim(
            "PATCH",
            f"/_control/meetings/{meeting['iCalUid']}",
            json={"start": local_time(3, 14), "end": local_time(3, 15)},
        )
        (dave,) = [
            c for c in self.crm_records("contacts") if "dave@customer.com" in c["emailAddresses"]
        ]
        start = datetime.fromisoformat(local_time(6, 9)["dateTime"])
        made = self.crm_user(
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
        self._sync({"alice": ("calendar",)})
        return {"iCalUid": meeting["iCalUid"], "copies": meeting["copies"], "crmMade": made}

    def _tasks(self) -> dict[str, Any]:
        """A task made in alice's mailbox reaches the CRM; its completion there comes back."""
        self.step("alice adds a task in her mailbox: send Dave the Q3 quote")
        url = f"/_control/accounts/{self.accounts['alice']['id']}/tasks"
        task = self.sim("POST", url, json={"title": "Send Dave the Q3 quote", "importance": "high"})
        self._sync({"alice": ("tasks",)})
        crm = [t for t in self.crm_records("tasks") if t["subject"] == task["title"]]
        if crm:
            self.step("the task is completed in the CRM")
            self.crm_user(
                "tasks.update",
                "PATCH",
                f"/api/v1/tasks/{crm[0]['id']}",
                json={"status": "completed"},
            )
            self._sync({"alice": ("tasks",)})
        return {"mailboxId": task["id"], "title": task["title"]}

    def crm_records(self, kind: str) -> list[dict[str, Any]]:
        """Every live record of a kind in the reference CRM (its control API: no paging)."""
        return self.crm_call("GET", f"/_control/records/{kind}")

    def mailbox_records(self, name: str, kind: str) -> list[dict[str, Any]]:
        return self.sim("GET", f"/_control/accounts/{self.accounts[name]['id']}/{kind}")["records"]

    def _status(self, name: str) -> dict[str, Any]:
        return self.admin("GET", f"/api/v1/users/{self.users[name]['id']}")["status"]

    def _sync(self, plan: dict[str, tuple[str, ...]]) -> None:
        """Run the named services of the named users now (at once) and wait for their ends."""
        before = {name: self._status(name) for name in plan}
        for name, services in plan.items():
            for service in services:
                self.admin(
                    "POST",
                    f"/api/v1/users/{self.users[name]['id']}/sync",
                    json={"service": service},
                )

        def done() -> bool:
            for name, services in plan.items():
                now = self._status(name)
                for service in services:
                    st = now[service]
                    if st["runs"] <= before[name][service]["runs"] or st["state"] in (
                        "queued",
                        "running",
                    ):
                        return False
            return True

        self._wait(done, 90, f"{' and '.join(sorted({s for v in plan.values() for s in v}))} sync")

    def _phase_stats(self) -> dict[str, Any]:
        """Both simulators' statistics since the last call, once the runs set off by our own
        writes (their webhooks) have ended too; then a fresh count starts."""
        self.sim("POST", "/_control/webhooks/flush", json={})

        def quiet() -> bool:
            return all(
                st["state"] not in ("queued", "running")
                for name in self.users
                for st in self._status(name).values()
            )

        self._wait(quiet, 90, "the syncs to settle")
        crm = self.crm_call("GET", "/_control/stats")
        ops = dict(crm.get("byOperation", {}))
        for op, n in self.own_crm_calls.items():
            ops[op] = ops.get(op, 0) - n
        crm = {"total": calls(crm) - sum(self.own_crm_calls.values()), "byOperation": ops}
        out = {"aurinko": self.sim("GET", "/_control/stats"), "crm": crm}
        self.own_crm_calls = {}
        self.sim("POST", "/_control/stats/reset")
        self.crm_call("POST", "/_control/stats/reset")
        return out

    def _decision(self, msg_id: str) -> dict[str, Any]:
        r = requests.get(
            self.web.url + f"/api/v1/orgs/{self.org_id}/emails",
            params={"rfc822MsgId": msg_id},
            timeout=30,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        return r.json() if r.status_code == 200 else {}

    def _settle(self, msg_ids: list[str]) -> None:
        done: set[str] = set()
        final = {"logged", "skipped", "unmatched", "failed", "expired"}

        def progress() -> bool:
            for m in msg_ids:
                if m not in done and self._decision(m).get("state") in final:
                    done.add(m)
                    self.echo(f"    {len(done)}/{len(msg_ids)} messages decided")
            return len(done) == len(msg_ids)

        self._wait(progress, 120, "every message to be decided")

    def report(self, result: dict[str, Any]) -> str:
        lines = ["", click.style("What happened", bold=True), ""]
        names = {u["id"]: n for n, u in self.users.items()}
        threads: dict[str, str] = {}
        header = f"{'message':<31} {'decision':<9} {'why / where':<40} {'thread':<6} seen by"
        lines += [header, "-" * len(header)]
        for label, mail in result["mails"]:
            d = self._decision(mail["internetMessageId"])
            thread = d.get("syncThreadId")
            tag = threads.setdefault(thread, f"T{len(threads) + 1}") if thread else "-"
            state = d.get("state", "?")
            if state == "logged":
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
        cache = self.admin("GET", f"/api/v1/orgs/{self.org_id}/unmatched")["items"]
        created = self.crm_call(
            "GET", "/api/v1/contacts/lookup", params={"emails": "frank.newman@mail.newco.co.uk"}
        )
        company = self.crm_call("GET", "/api/v1/companies/lookup", params={"domain": "newco.co.uk"})
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
        ]
        lines += self._two_way_report(result)
        return "\n".join(lines)

    def _two_way_report(self, result: dict[str, Any]) -> list[str]:
        """Calendar and tasks, read back from both sides as they are now."""
        zone = ZoneInfo(ZONE)
        m = result["meeting"]
        events = self.crm_records("events")
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
            e
            for e in self.mailbox_records("alice", "events")
            if e.get("subject") == made["subject"]
        ]
        rows.append(
            (
                "event made in the CRM",
                "created" if len(in_alice) == 1 else "WRONG",
                f"{len(in_alice)} copy in alice's calendar ({made['id']} in the CRM)",
            )
        )
        t = result["task"]
        crm_tasks = [x for x in self.crm_records("tasks") if x["subject"] == t["title"]]
        box = {x["id"]: x for x in self.mailbox_records("alice", "tasks")}.get(t["mailboxId"], {})
        if len(crm_tasks) == 1:
            task = crm_tasks[0]
            rows.append(
                (
                    "task made in alice's mailbox",
                    "synced",
                    f"1 CRM task {task['id']}, owner {task['ownerId']}, "
                    f"{task['priority']} priority",
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

        rows += self._contacts_rows()
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
            f"{len(self._open_duplicates())} possible duplicate(s) listed for review; "
            f"writes: CRM {writes(people['crm'], 'contact')}, "
            f"mailboxes {writes(people['aurinko'], 'contact')}; "
            f"API calls: Aurinko {calls(people['aurinko'])}, CRM {calls(people['crm'])}.",
        ]
        return lines

    def _open_duplicates(self) -> list[dict[str, Any]]:
        return self.admin("GET", f"/api/v1/orgs/{self.org_id}/duplicates")["items"]

    def _contacts_rows(self) -> list[tuple[str, str, str]]:
        """What became of each contact of alice's address book, read from both sides."""
        crm = self.crm_records("contacts")
        book = self.mailbox_records("alice", "contacts")
        duplicates = self._open_duplicates()

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

    def save_records(self, path: Path) -> None:
        """Both sides' records as the demo left them, for a look after the demo (--keep)."""
        records = {
            "crm": {kind: self.crm_records(kind) for kind in ("events", "tasks", "contacts")},
            "possibleDuplicates": self._open_duplicates(),
            "mailboxes": {
                name: {
                    kind: self.mailbox_records(name, kind)
                    for kind in ("events", "tasks", "contacts")
                }
                for name in self.users
            },
        }
        path.write_text(json.dumps(records, indent=1))


@click.command("demo")
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the demo's database, logs and the sandbox's final records afterwards.",
)
def demo(keep: bool) -> None:
    """Run the whole product end to end against the bundled sandbox and print a report."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-demo-"))
    d = Demo(workdir, click.echo)
    try:
        d.start()
        result = d.run()
        click.echo(d.report(result))
        if keep:
            d.save_records(workdir / "records.json")
            click.echo(f"Database, logs and the sandbox's records (records.json) kept in {workdir}")
    finally:
        d.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
