"""The demo's harness: starts the simulators, the web app, a Celery worker and beat on a
fresh working directory, talks to each, and waits for the worker's runs to end."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests
from cryptography.fernet import Fernet

from brightsync.process import beat_command, reset_process_state, worker_command

CRM_TOKEN = "demo-crm-token"


def calls(stats: dict[str, Any]) -> int:
    """API calls in a simulator's statistics."""
    return int(stats.get("total", sum(stats.get("byOperation", {}).values())))


class Harness:
    """The running demo: simulators, web app, worker and beat, the calls into them, and the
    waits for what the worker does. The scenario fills in the organisation and its users."""

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
        # Set by the scenario as it registers them.
        self.org_id = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}

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
            # The simulator's app credentials: the demo connects a mailbox through OAuth.
            "AURINKO_CLIENT_ID": "sandbox-client",
            "AURINKO_CLIENT_SECRET": "sandbox-secret",
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
        self.wait(
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

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        raise click.ClickException(f"timed out waiting for {what}; logs in {self.workdir}")

    def subscribed(self, user_id: int) -> dict[str, Any] | None:
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

    def connect(self, body: dict[str, Any]) -> tuple[int, str]:
        """Connect a mailbox as its user would: a connect link, opened in a "browser" that
        follows it through the simulator's sign-in back to BrightSync. (user id, final page)"""
        link = self.admin("POST", f"/api/v1/orgs/{self.org_id}/connect-links", json=body)
        page = requests.get(link["url"], timeout=30)
        if page.status_code != 200:
            raise RuntimeError(f"connecting {body.get('email')} failed: {page.status_code}")
        org = self.admin("GET", f"/api/v1/orgs/{self.org_id}")
        for user_id in org["users"]:
            if self.admin("GET", f"/api/v1/users/{user_id}")["email"] == body.get("email"):
                return user_id, page.text
        raise RuntimeError(f"{body.get('email')} was not registered by the connect flow")

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

    def crm_records(self, kind: str) -> list[dict[str, Any]]:
        """Every live record of a kind in the reference CRM (its control API: no paging)."""
        return self.crm_call("GET", f"/_control/records/{kind}")

    def mailbox_records(self, name: str, kind: str) -> list[dict[str, Any]]:
        return self.sim("GET", f"/_control/accounts/{self.accounts[name]['id']}/{kind}")["records"]

    def open_duplicates(self) -> list[dict[str, Any]]:
        return self.admin("GET", f"/api/v1/orgs/{self.org_id}/duplicates")["items"]

    def first_synced(self) -> bool:
        """Every service of every registered user has finished its first sync."""
        return all(
            st["firstSync"] == "done" and st["state"] not in ("queued", "running")
            for name in self.users
            for st in self.status(name).values()
        )

    def status(self, name: str) -> dict[str, Any]:
        return self.admin("GET", f"/api/v1/users/{self.users[name]['id']}")["status"]

    def sync(self, plan: dict[str, tuple[str, ...]]) -> None:
        """Run the named services of the named users now (at once) and wait for their ends."""
        before = {name: self.status(name) for name in plan}
        for name, services in plan.items():
            for service in services:
                self.admin(
                    "POST",
                    f"/api/v1/users/{self.users[name]['id']}/sync",
                    json={"service": service},
                )

        def done() -> bool:
            for name, services in plan.items():
                now = self.status(name)
                for service in services:
                    st = now[service]
                    if st["runs"] <= before[name][service]["runs"] or st["state"] in (
                        "queued",
                        "running",
                    ):
                        return False
            return True

        self.wait(done, 90, f"{' and '.join(sorted({s for v in plan.values() for s in v}))} sync")

    def phase_stats(self) -> dict[str, Any]:
        """Both simulators' statistics since the last call, once the runs set off by our own
        writes (their webhooks) have ended too; then a fresh count starts."""
        self.sim("POST", "/_control/webhooks/flush", json={})

        def quiet() -> bool:
            return all(
                st["state"] not in ("queued", "running")
                for name in self.users
                for st in self.status(name).values()
            )

        self.wait(quiet, 90, "the syncs to settle")
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

    def decision(self, msg_id: str) -> dict[str, Any]:
        r = requests.get(
            self.web.url + f"/api/v1/orgs/{self.org_id}/emails",
            params={"rfc822MsgId": msg_id},
            timeout=30,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        return r.json() if r.status_code == 200 else {}

    def settle(self, msg_ids: list[str]) -> None:
        done: set[str] = set()
        final = {"logged", "skipped", "unmatched", "failed", "expired"}

        def progress() -> bool:
            for m in msg_ids:
                if m not in done and self.decision(m).get("state") in final:
                    done.add(m)
                    self.echo(f"    {len(done)}/{len(msg_ids)} messages decided")
            return len(done) == len(msg_ids)

        self.wait(progress, 120, "every message to be decided")
