"""`brightsync demo`: the whole product, end to end, on embedded defaults and the sandbox.

Starts the Aurinko simulator and the reference CRM, the web app, a real Celery worker process
and beat, registers an organisation with three mailboxes, drives a realistic scenario and
prints what was synced, deduplicated, cached and why.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests
from cryptography.fernet import Fernet

from brightsync.process import beat_command, reset_process_state, worker_command

CRM_TOKEN = "demo-crm-token"


class Demo:
    def __init__(self, workdir: Path, echo: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.echo = echo
        self.admin_token = secrets.token_urlsafe(16)
        self.signing_secret = secrets.token_urlsafe(16)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[Any] = []
        self.env: dict[str, str] = {}

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
        self.procs.append(
            subprocess.Popen(worker_command(), env=env, stdout=log, stderr=subprocess.STDOUT)
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
                "contacts": [
                    {
                        "firstName": "Dave",
                        "lastName": "Customer",
                        "emailAddresses": ["dave@customer.com"],
                        "companyId": "co-customer",
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
        self.users: dict[str, dict[str, Any]] = {}
        for name, provider in (("alice", "imap"), ("bob", "office365"), ("carol", "imap")):
            acct = self.sim(
                "POST",
                "/_control/accounts",
                json={"email": f"{name}@acme.com", "name": name.title(), "provider": provider},
            )
            user = self.admin(
                "POST",
                f"/api/v1/orgs/{self.org_id}/users",
                json={
                    "email": f"{name}@acme.com",
                    "aurinkoAccountId": acct["id"],
                    "aurinkoAccessToken": acct["accessToken"],
                    "services": ["email"],
                },
            )
            ok = all(s.get("created") for s in user["subscriptions"])
            self.users[name] = user
            self.step(
                f"mailbox {name}@acme.com ({provider}) registered; webhook subscription "
                f"{'verified' if ok else 'FAILED'}"
            )
        self.sim("POST", "/_control/stats/reset")
        self.crm_call("POST", "/_control/stats/reset")

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
        return {"mails": mails, "contacts": self.contacts_sync()}

    def contacts_sync(self) -> dict[str, Any]:
        """Dana's address book meets the CRM's: her "David Customer" is the CRM's Dave (same
        address), so the two are linked and merged instead of either being copied."""
        self.step("dana@acme.com brings her address book: two-way contacts sync")
        acct = self.sim(
            "POST",
            "/_control/accounts",
            json={"email": "dana@acme.com", "name": "Dana", "provider": "office365"},
        )
        for first, last, addresses, phone in (
            (
                "David",
                "Customer",
                ["dave@customer.com", "dave.customer@gmail.com"],
                "+1 415 555 0142",
            ),
            ("Gina", "Newclient", ["gina@newclient.io"], None),
        ):
            body: dict[str, Any] = {
                "name": {"givenName": first, "familyName": last},
                "emailAddresses": [{"address": a} for a in addresses],
            }
            if phone:
                body["phoneNumbers"] = [{"number": phone}]
            self.sim("POST", f"/_control/accounts/{acct['id']}/contacts", json=body)
        user = self.admin(
            "POST",
            f"/api/v1/orgs/{self.org_id}/users",
            json={
                "email": "dana@acme.com",
                "aurinkoAccountId": acct["id"],
                "aurinkoAccessToken": acct["accessToken"],
                "services": ["contacts"],
            },
        )
        self.admin("POST", f"/api/v1/users/{user['id']}/sync", json={"service": "contacts"})

        def done() -> bool:
            st = self.admin("GET", f"/api/v1/users/{user['id']}")["status"]["contacts"]
            return st["runs"] >= 1 and st["state"] not in ("queued", "running", "never")

        self._wait(done, 90, "the contacts sync")
        book = self.sim("GET", f"/_control/accounts/{acct['id']}/contacts")["records"]
        crm = self.crm_call("GET", "/_control/records/contacts")
        return {"mailbox": book, "crm": crm}

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
        stats = self.sim("GET", "/_control/stats")
        crm_stats = self.crm_call("GET", "/_control/stats")
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
        contacts = result.get("contacts")
        if contacts:
            daves = [c for c in contacts["crm"] if c.get("lastName") == "Customer"]
            ginas = [c for c in contacts["crm"] if c.get("lastName") == "Newclient"]
            lines += [
                "Contacts sync: Dana's 'David Customer' and the CRM's 'Dave Customer' share an "
                f"address: linked, not duplicated ({len(daves)} in the CRM, now "
                f"'{daves[0]['firstName']} Customer' with {len(daves[0]['emailAddresses'])} "
                f"addresses); 'Gina Newclient' created in the CRM: {len(ginas)}; Dana's address "
                f"book now holds {len(contacts['mailbox'])} contacts."
                if daves
                else "Contacts sync: no Customer contact in the CRM",
            ]
        return "\n".join(lines)


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo's database and logs afterwards.")
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
            click.echo(f"Database and logs kept in {workdir}")
    finally:
        d.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
