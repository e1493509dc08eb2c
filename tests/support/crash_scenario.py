"""Kill every worker mid-run, again and again, while mail flows and the CRM fails.

Shared by tests/email/test_crash_recovery.py (asserts) and bench/crash_recovery.py
(prints the figure). Workers are real `celery worker` processes, each in its own process
group so the whole group (parent and pool children) dies with one SIGKILL; beat runs the
sweepers next to them, as its own process, as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from tests.conftest import REPO, Stack
from tests.support.helpers import (
    crm_emails,
    make_org,
    make_user,
    seed_contacts,
    send,
    wait_subscribed,
)

CUSTOMERS = [f"buyer{i}@customer.com" for i in range(4)]


def mailer(stack: Stack, sent: list[str], recipients: list[list[str]]) -> Callable[[int], None]:
    """`mail(n)`: n more customer mails, to each recipient list in turn, their ids in `sent`."""

    def mail(n: int) -> None:
        for _ in range(n):
            i = len(sent)
            to = recipients[i % len(recipients)]
            m = send(stack, CUSTOMERS[i % len(CUSTOMERS)], to, f"Order {i}", body=f"order {i}")
            sent.append(m["internetMessageId"])

    return mail


def wait_all_logged(stack: Stack, sent: list[str], since: float, limit: float) -> float | None:
    """Seconds from `since` (monotonic) until every mail was in the CRM; None past `limit`."""
    while time.monotonic() - since < limit:
        if all(crm_emails(stack, m) for m in sent):
            return time.monotonic() - since
        time.sleep(0.5)
    return None


def tally(counts: dict[str, int]) -> dict[str, int]:
    """Copies beyond the first, and mails never logged, from CRM copies per message."""
    return {
        "duplicates": sum(max(0, n - 1) for n in counts.values()),
        "missing": sum(1 for n in counts.values() if n == 0),
    }


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=open(log, "a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killpg reaches the pool children
    )


class Fleet:
    """N worker processes plus one beat, started and SIGKILLed as a group."""

    def __init__(self, stack: Stack, env: dict[str, str], workers: int = 2, concurrency: int = 2):
        self.stack, self.env = stack, {**stack.env, **env}
        self.workers, self.concurrency = workers, concurrency
        self.procs: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self.generation = 0
        self.started_at: datetime | None = None  # when the live generation started
        self.logs: list[Path] = []

    def start(self) -> None:
        from brightsync.models import utcnow
        from brightsync.process import worker_command

        self.generation += 1
        self.started_at = utcnow()
        workdir = self.stack.backend.workdir
        for i in range(self.workers):
            log = workdir / f"crash-w{i}-{self.generation}.log"
            self.logs.append(log)
            cmd = worker_command(self.concurrency, name=f"crash{i}-{self.generation}")
            self.procs.append(_spawn(cmd, self.env, log))
        deadline = time.time() + 90
        for log in self.logs[-self.workers :]:
            while "ready." not in log.read_text(errors="replace"):
                if time.time() > deadline:
                    raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)

    def start_beat(self) -> None:
        from brightsync.process import beat_command

        workdir = self.stack.backend.workdir
        schedule = workdir / f"beat-schedule-{time.time_ns()}"
        self.beat = _spawn(beat_command(schedule), self.env, workdir / "crash-beat.log")

    def kill(self) -> None:
        """SIGKILL every worker's whole process group: no shutdown, no acks, no cleanup."""
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        self.procs.clear()

    def stop(self) -> None:
        for proc in [*self.procs, *([self.beat] if self.beat else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.procs.clear()
        self.beat = None

    def busy(self) -> bool:
        """Work of this fleet's live generation is in progress (see `busy`)."""
        return busy(self.started_at, float(self.env.get("BRIGHTSYNC_LEASE_SECONDS", 60)))

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs
        )


def busy(since: datetime | None = None, lease: float = 60.0) -> bool:
    """A run or a CRM write of the live worker generation (started at `since`, leases of
    `lease` seconds) is in progress.

    A lease taken or renewed after `since` runs out after `since` + a lease; the leases a
    killed generation left behind were last renewed before it, so they do not count.
    """
    from brightsync.db import session_scope
    from brightsync.models import EmailClaim, SyncState

    live = (since or datetime.min.replace(tzinfo=UTC)) + timedelta(seconds=lease)
    with session_scope() as s:
        running = s.scalar(
            select(func.count())
            .select_from(SyncState)
            .where(SyncState.lease_owner.is_not(None), SyncState.lease_until > live)
        )
        logging_ = s.scalar(
            select(func.count())
            .select_from(EmailClaim)
            .where(
                or_(EmailClaim.state == "logging", EmailClaim.lease_owner.is_not(None)),
                EmailClaim.lease_until > live,
            )
        )
    return bool(running or logging_)


@dataclass
class Outcome:
    kills: int
    mails: int
    converge_seconds: float | None  # after the last restart; None: not within the limit
    duplicates: int
    missing: int
    killed_mid_run: int  # kills that hit work in progress of the live worker generation
    lost_answers: int  # CRM creates stored whose answer was lost (502, or none in time)
    per_message: dict[str, int] = field(default_factory=dict)


def run(
    stack: Stack,
    *,
    kills: int = 3,
    mails: int = 40,
    limit: float = 120.0,
    env: dict[str, str] | None = None,
    workers: int = 2,
    lost_answers: int = 6,
) -> Outcome:
    """The whole scenario on a clean stack whose own worker is stopped; returns the figures.

    `lost_answers`: that many email creates are stored by the CRM but their answer is lost,
    half as a 502 and half never in time (held past BRIGHTSYNC_CRM_TIMEOUT, set to 2 s here),
    before the 500s and the 429 storm; the kills fall among them."""
    crm = stack.crm_url
    seed_contacts(
        stack, *[{"firstName": c.split("@")[0], "emailAddresses": [c]} for c in CUSTOMERS]
    )
    org_id = make_org(stack)
    # No worker runs yet: the fleet's first start creates the subscriptions (waited for below).
    users = [make_user(stack, org_id, f"{n}@acme.com", subscribed=False) for n in ("alice", "bob")]
    # 500s, then a 429 storm with Retry-After: counted faults, consumed as the workers call.
    # (Reads of /api/v1/emails stay clean: they are how this scenario counts.)
    emails = {"path": "/api/v1/emails", "method": "POST", "afterWrite": True}
    faults = [
        {**emails, "status": 502, "count": lost_answers // 2},
        {**emails, "delaySeconds": 3, "count": lost_answers - lost_answers // 2},
    ]
    faults = [f for f in faults if f["count"] > 0]  # a count of 0 would mean "forever"
    faults += [
        {"path": "/api/v1/emails", "method": "POST", "status": 500, "count": 12},
        {"path": "/api/v1/emails", "method": "POST", "status": 429, "count": 25, "retryAfter": "1"},
        {"path": "/api/v1/contacts", "status": 429, "count": 15, "retryAfter": "1"},
    ]
    for fault in faults:
        stack.crm("POST", "/_control/faults", json=fault).raise_for_status()

    fleet = Fleet(stack, {"BRIGHTSYNC_CRM_TIMEOUT": "2", **(env or {})}, workers=workers)
    sent: list[str] = []
    batches = [mails // (kills + 1)] * kills
    batches.append(mails - sum(batches))
    mid_run = 0
    mail = mailer(
        stack, sent, [["alice@acme.com"], ["bob@acme.com"], ["alice@acme.com", "bob@acme.com"]]
    )

    try:
        fleet.start_beat()
        for number, batch in enumerate(batches[:-1]):
            fleet.start()
            if number == 0:
                for user in users:
                    wait_subscribed(stack, user["id"])
            mail(batch)
            deadline = time.time() + 8
            while not fleet.busy() and time.time() < deadline:
                time.sleep(0.05)
            mid_run += fleet.busy()
            fleet.kill()
        fleet.start()
        restarted = time.monotonic()
        mail(batches[-1])
        converged = wait_all_logged(stack, sent, restarted, limit)
        # Let anything still in flight land before counting duplicates.
        time.sleep(2)
        while busy() and time.monotonic() - restarted < limit + 30:
            time.sleep(0.5)
        counts = {m: len(crm_emails(stack, m)) for m in sent}
    finally:
        fleet.stop()
        stack.crm("DELETE", "/_control/faults")
    del crm
    return Outcome(
        kills=kills,
        mails=len(sent),
        converge_seconds=converged,
        **tally(counts),
        killed_mid_run=mid_run,
        lost_answers=lost_answers,
        per_message=counts,
    )


def describe(outcome: Any) -> dict[str, Any]:
    """A scenario's outcome without the per-message counts (for a report or a failure)."""
    return {k: v for k, v in vars(outcome).items() if k != "per_message"}
