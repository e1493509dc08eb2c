"""The infrastructure fails while mail flows: Redis loses its data (FLUSHDB and every client
connection dropped, as a restart without persistence does) and PostgreSQL drops every
connection, each twice, while 36 mails go into 3 mailboxes. No outside help (no "sync now"):
the workers and beat must notice and recover by themselves.

Shared by tests/sync/test_infrastructure_faults.py (asserts) and bench/crash_recovery.py
(prints the figure). Real worker processes and beat (tests.support.crash_scenario.Fleet).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.conftest import Stack, wait_for
from tests.support import faults
from tests.support.crash_scenario import (
    CUSTOMERS,
    Fleet,
    mailer,
    tally,
    wait_all_logged,
)
from tests.support.helpers import (
    crm_emails,
    make_org,
    make_user,
    seed_contacts,
    wait_subscribed,
)

# Between a fault and the next batch of mail: recovery from one fault is under way (or
# done) when the next one comes.
FAULT_SPACING = 2.0
NOTICED = "Redis lost its data"
REBUILT = "rebuilt after a Redis data loss"
MAILBOXES = ("alice@acme.com", "bob@acme.com", "carol@acme.com")


@dataclass
class Outcome:
    faults: list[str]
    mails: int
    converge_seconds: float | None  # after the last fault; None: not within the limit
    duplicates: int
    missing: int
    noticed: int  # Redis losses the workers noticed
    rebuilt: int  # rebuilds done (a loss noticed again before its rebuild ran needs one)
    per_message: dict[str, int] = field(default_factory=dict)


def _generation_recorded() -> bool:
    from brightsync.db import session_scope
    from brightsync.generation import DB_KEY
    from brightsync.models import CacheEntry

    with session_scope() as s:
        return s.get(CacheEntry, DB_KEY) is not None


def fault_plan(stack: Stack) -> list[str]:
    """The fault after each batch of mail: PostgreSQL, Redis, PostgreSQL, Redis; only those
    this backend has (Redis is the broker or coordinates; the database is PostgreSQL). Redis
    last: what its loss takes away no later mail would bring back."""
    redis = bool(stack.env.get("REDIS_URL"))
    pg = "postgresql" in stack.env["DATABASE_URL"]
    plan = [k for k, ok in (("postgres", pg), ("redis", redis)) if ok]
    return plan * 2


def inflict(stack: Stack, fault: str) -> None:
    if fault == "redis":
        faults.redis_loses_everything(stack.env["REDIS_URL"])
    else:
        faults.kill_pg_connections(stack.env["DATABASE_URL"])


def run(
    stack: Stack,
    *,
    mails: int = 36,
    limit: float = 120.0,
    env: dict[str, str] | None = None,
    workers: int = 2,
) -> Outcome:
    """The whole scenario on a clean stack whose own worker is stopped; returns the figures."""
    seed_contacts(
        stack, *[{"firstName": c.split("@")[0], "emailAddresses": [c]} for c in CUSTOMERS]
    )
    org_id = make_org(stack)
    users = [make_user(stack, org_id, box, subscribed=False) for box in MAILBOXES]
    plan = fault_plan(stack)
    fleet = Fleet(stack, env or {}, workers=workers)
    sent: list[str] = []
    batches = [mails // len(plan)] * len(plan)
    batches[-1] += mails - sum(batches)
    recipients = [[MAILBOXES[0]], [MAILBOXES[1]], [MAILBOXES[2]], [MAILBOXES[0], MAILBOXES[2]]]

    mail = mailer(stack, sent, recipients)

    counts: dict[str, int] = {}
    converged = None
    try:
        fleet.start_beat()
        fleet.start()
        for user in users:
            wait_subscribed(stack, user["id"])
        if "redis" in plan:  # the workers recorded the generation a loss is noticed by
            wait_for(_generation_recorded, 30, message="Redis generation recorded")
        last_fault = time.monotonic()
        for fault, batch in zip(plan, batches, strict=True):
            mail(batch)
            time.sleep(0.15)  # notifications buffered, runs queued or in progress
            inflict(stack, fault)
            last_fault = time.monotonic()
            time.sleep(FAULT_SPACING)
        converged = wait_all_logged(stack, sent, last_fault, limit)
        time.sleep(2)  # let anything still in flight land before counting duplicates
        counts = {m: len(crm_emails(stack, m)) for m in sent}
    finally:
        fleet.stop()
    logs = [p.read_text(errors="replace") for p in fleet.logs]
    noticed = sum(text.count(NOTICED) for text in logs)
    rebuilt = sum(text.count(REBUILT) for text in logs)
    return Outcome(
        faults=plan,
        mails=len(sent),
        converge_seconds=converged,
        **tally(counts),
        noticed=noticed,
        rebuilt=rebuilt,
        per_message=counts,
    )
