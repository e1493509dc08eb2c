"""A dead token must not wedge the house (issue 19): after a user's runs end
`reauth_required`, every kind of task still runs promptly on the same workers, the admin API
answers at once, and no transaction stays open — on both backends.

The wedge this guards against: the next run for the dead user skipped itself and cleared its
pending request in a second transaction opened inside the first one; on SQLite (the embedded
default) the inner BEGIN waited 60 s for the write lock its own thread held, and the whole
house with it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from brightsync.models import User
from tests.conftest import Stack, wait_for
from tests.support.helpers import make_org, make_user, seed_contacts, send, sync_round

SERVICES = ["email", "calendar", "contacts", "tasks"]
# How long any transaction may stay open, a task may take, an API answer may take. Generous
# for a loaded 2-core machine; the wedge costs SQLite's 60 s busy timeout.
TXN_BOUND = 5.0
TASK_BOUND = 30.0
API_BOUND = 5.0
DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _probe(stack: Stack) -> Callable[[], float]:
    """A check that no transaction has been open longer than TXN_BOUND: how long it took.

    SQLite: a write in a fresh connection, waiting at most TXN_BOUND for the write lock.
    PostgreSQL: no session of the test database idle in a transaction for TXN_BOUND.
    """
    url = make_url(stack.env["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":

        def write() -> float:
            started = time.monotonic()
            conn = sqlite3.connect(url.database, timeout=TXN_BOUND, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"UPDATE {User.__tablename__} SET id = id WHERE id < 0")
                conn.execute("COMMIT")
            finally:
                conn.close()
            return time.monotonic() - started

        return write

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def idle_in_transaction() -> float:
        started = time.monotonic()
        with engine.connect() as conn:
            stuck = conn.execute(
                sa.text(
                    "SELECT pid, now() - xact_start, query FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND state LIKE 'idle in transaction%'"
                    " AND xact_start < now() - make_interval(secs => :bound)"
                ),
                {"bound": TXN_BOUND},
            ).all()
        assert not stuck, f"transactions left open: {stuck}"
        return time.monotonic() - started

    return idle_in_transaction


class Watch:
    """Probes the database and the admin API every half second while the tasks run."""

    def __init__(self, stack: Stack, user_id: int) -> None:
        self.stack, self.user_id = stack, user_id
        self.probe = _probe(stack)
        self.failures: list[str] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.probe()
            except Exception as exc:  # noqa: BLE001 - recorded, asserted by the test
                self.failures.append(f"database: {type(exc).__name__}: {exc}")
            started = time.monotonic()
            try:
                r = self.stack.admin("GET", f"/api/v1/users/{self.user_id}")
            except Exception as exc:  # noqa: BLE001 - a timeout is a failure like any other
                self.failures.append(f"GET /api/v1/users/{self.user_id}: {exc}")
                continue
            took = time.monotonic() - started
            if r.status_code != 200 or took > API_BOUND:
                self.failures.append(
                    f"GET /api/v1/users/{self.user_id}: {r.status_code} {took:.1f}s"
                )
            self.rounds += 1

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=TASK_BOUND)


def _finished(stack: Stack, task_id: str) -> float | None:
    """How long the task took by the worker's log; None while it has not ended."""
    log = stack.worker.log() if stack.worker else ""
    found = re.search(rf"\[{task_id}\] (succeeded in ([0-9.]+)s|raised|retry)[^\n]*", log)
    if found and found.group(2) is None:
        raise AssertionError(f"task {task_id} ended: {found.group(0)}")
    return float(found.group(2)) if found else None


def _flagged(stack: Stack, user_id: int) -> dict | None:
    user = stack.admin("GET", f"/api/v1/users/{user_id}").json()
    return user if user["mailbox"]["state"] == "reauth_required" else None


def test_a_dead_token_leaves_every_task_prompt_and_no_transaction_open(clean_stack):
    from brightsync.celery import app

    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com", services=SERVICES, crm_user_id="u-alice")
    bob = make_user(stack, org_id, "bob@acme.com", services=SERVICES, crm_user_id="u-bob")
    send(stack, "dave@customer.com", ["alice@acme.com", "bob@acme.com"], "hello")
    stack.aurinko("POST", f"/_control/accounts/{alice['accountId']}/token", json={"status": "dead"})
    r = stack.admin("POST", f"/api/v1/users/{alice['id']}/sync", json={"service": "email"})
    assert r.status_code == 202, r.text
    wait_for(lambda: _flagged(stack, alice["id"]), timeout=60, message="alice needs reauth")

    with Watch(stack, alice["id"]) as watch:
        # The dead user's next runs (the path that wedged), every service.
        for service in SERVICES:
            r = stack.admin("POST", f"/api/v1/users/{alice['id']}/sync", json={"service": service})
            assert r.status_code == 202, r.text
        # Every other kind of task, published straight to the worker.
        sent = {
            name: app.send_task(name, args=args).id
            for name, args in [
                ("brightsync.sync.run", [alice["id"], "email"]),
                ("brightsync.subscriptions.ensure", [alice["id"]]),
                ("brightsync.email.process_claims", [[]]),
                ("brightsync.maintenance.sweep_email_claims", []),
                ("brightsync.maintenance.sweep_runs", []),
                ("brightsync.maintenance.safety_sync", []),
                ("brightsync.maintenance.check_subscriptions", []),
                ("brightsync.maintenance.prune_notifications", []),
                ("brightsync.maintenance.prune_broker", []),
                ("brightsync.unmatched.retry", [True]),
                ("brightsync.unmatched.expire", []),
                ("brightsync.unmatched.retry_addresses", [org_id, ["erin@prospect.io"]]),
                ("brightsync.unmatched.watch_crm_contacts", []),
            ]
        }
        if stack.env.get("REDIS_URL"):  # the webhook intake buffer exists on Redis only
            sent["brightsync.sync.intake.drain"] = app.send_task("brightsync.sync.intake.drain").id
        # A colleague's runs of every service go on as usual.
        for service in SERVICES:
            started = time.monotonic()
            status = sync_round(stack, bob["id"], service)
            assert status["lastError"] is None, (service, status)
            assert time.monotonic() - started < TASK_BOUND, service
        for name, task_id in sent.items():
            took = wait_for(
                lambda t=task_id: _finished(stack, t),
                timeout=TASK_BOUND,
                message=f"{name} to finish",
            )
            assert took < TASK_BOUND, (name, took)
        # And the dead user's requests were dropped, not left queued.
        wait_for(
            lambda: all(
                s["state"] not in ("queued", "running")
                for s in stack.admin("GET", f"/api/v1/users/{alice['id']}")
                .json()["status"]
                .values()
            ),
            timeout=TASK_BOUND,
            message="alice's runs to be dropped",
        )
        time.sleep(TXN_BOUND)  # one more probe after everything settled
    assert watch.rounds >= 2
    assert not watch.failures, watch.failures
    assert "database is locked" not in stack.worker.log()
