"""A service's first sync starts as soon as its subscription is settled, not when the first
webhook or the safety sync comes round (Aurinko sends no webhook for mail that is already in
the mailbox, so a new user would otherwise wait up to half an hour for anything).

`start` is what registration's subscription task calls after each attempt, what the connect
flow reaches through it, and what a service turned on later calls. It is idempotent: it asks
only for services that never finished a run and hold no cursor, and the request coalesces with
any run already queued (`scheduler.request_and_publish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from brightsync.clients.aurinko import SERVICE_RESOURCES
from brightsync.db import session_scope
from brightsync.models import Subscription, User
from brightsync.sync import scheduler
from brightsync.sync.queue import publish_sync

# A subscription in these states no longer holds the first sync back: created, or refused for
# good (the sync does not need it; the periodic check keeps trying to create it).
SETTLED = ("active", "failed", "error")


def never_synced(
    last_sync_at: datetime | None, updated_token: str | None, resume_token: str | None
) -> bool:
    """No run of the service has finished and it holds no cursor: its first sync is due."""
    return last_sync_at is None and updated_token is None and resume_token is None


def first_sync_phase(last_sync_at: datetime | None, run_state: str | None) -> str:
    """What the status says of the first sync: waiting, running or done (pure)."""
    if last_sync_at is not None:
        return "done"
    return "running" if run_state == "running" else "waiting"


def _due(user_id: int, services: Iterable[str] | None, settled_only: bool) -> list[str]:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None or user.paused or user.mailbox_state != "ok":
            return []
        enabled = list(user.services or [])
        wanted = [svc for svc in (enabled if services is None else services) if svc in enabled]
        if settled_only:
            subs = dict(
                s.execute(
                    select(Subscription.service, Subscription.state).where(
                        Subscription.user_id == user_id
                    )
                ).all()
            )
            wanted = [
                svc
                for svc in wanted
                if svc not in SERVICE_RESOURCES or subs.get(svc, "active") in SETTLED
            ]
        due = []
        for svc in wanted:
            st = scheduler.ensure_state(s, user_id, svc)
            if not st.paused and never_synced(st.last_sync_at, st.updated_token, st.resume_token):
                due.append(svc)
        return due


def start(
    user_id: int, services: Iterable[str] | None = None, *, settled_only: bool = False
) -> dict[str, str]:
    """Queue the first sync of each of `services` (default: every enabled one) that never
    synced: {service: "enqueued" | "coalesced"}. `settled_only`: only services whose
    subscription is settled (registration's subscription task). Raises when the broker
    refuses (the request is undone; the safety sync starts it later)."""
    outcome = {}
    for svc in _due(user_id, services, settled_only):
        published = scheduler.request_and_publish(user_id, svc, publish_sync)
        outcome[svc] = "enqueued" if published else "coalesced"
    return outcome
