"""Celery tasks that run syncs and keep them healthy. Thin: they take ids and call functions."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from brightsync.celery import app
from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.http import TransientError
from brightsync.coordination import singleton
from brightsync.db import session_scope
from brightsync.models import Notification, SyncState, User, utcnow
from brightsync.ops.actions import is_paused
from brightsync.sync import scheduler

log = logging.getLogger(__name__)

# service -> "module:function(user_id, run) -> counters". Domains register by name so this
# module imports none of them (and a domain that has not landed yet is reported, not crashed).
HANDLERS: dict[str, str] = {
    "email": "brightsync.email.sync:sync_mailbox",
    "calendar": "brightsync.calendar.jobs:sync_calendar",
}

# Retry a failed run after transient trouble, growing up to this cap.
MAX_RETRY_COUNTDOWN = 900
SAFETY_SYNC_QUIET = timedelta(minutes=30)


@dataclass
class RunContext:
    """What a domain's sync function gets besides the user id."""

    state_id: int
    token: str
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def renew(self, progress: dict[str, int] | None = None) -> None:
        """Long runs call this between pages: keeps the lease and shows how far they got."""
        scheduler.renew(self.state_id, self.token, progress)


def handler_for(service: str) -> Callable[[int, RunContext], Any] | None:
    target = HANDLERS.get(service)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def publish_sync(user_id: int, service: str, queue: str = "sync") -> None:
    """Queue a run. Webhook-triggered runs use the "intake" queue, so a backlog of scheduled
    runs never delays fresh changes (and intake can get workers of its own)."""
    # Small publish retry budget: the webhook answers 503 rather than hang when the broker is down.
    run_sync.apply_async(
        args=[user_id, service],
        queue=queue,
        retry=True,
        retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    )


def publish_intake(user_id: int, service: str) -> None:
    publish_sync(user_id, service, queue="intake")


def mark_reauth(user_id: int, message: str) -> None:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is not None:
            user.mailbox_state = "reauth_required"
            user.mailbox_error = message[:1000]


def run_once(user_id: int, service: str) -> dict[str, Any]:
    """Run one sync in this process if no other run holds the lease (CLI and tasks use it)."""
    with session_scope() as s:
        state_id = scheduler.ensure_state(s, user_id, service).id
        user = s.get(User, user_id)
        if user is None:
            return {"status": "no such user"}
        if user.mailbox_state == "reauth_required":
            scheduler.clear_pending(state_id)
            return {"status": "skipped", "reason": "mailbox needs re-authorisation"}
        paused = is_paused(s, user_id, service)
    if paused:  # an operator paused the user or this service: no run starts until resumed
        scheduler.clear_pending(state_id)
        return {"status": "skipped", "reason": "paused"}
    token = scheduler.try_start(state_id)
    if token is None:
        return {"status": "busy", "state_id": state_id}
    handler = handler_for(service)
    ctx = RunContext(state_id=state_id, token=token)
    if handler is None:
        scheduler.finish(state_id, token, error=f"{service} sync is not available in this version")
        return {"status": "unsupported"}
    log.info("sync %s for user %s started", service, user_id)
    try:
        handler(user_id, ctx)
    except TokenDeadError as exc:
        mark_reauth(user_id, str(exc))
        scheduler.finish(
            state_id, token, error=f"mailbox needs re-authorisation: {exc}", counters=ctx.counters
        )
        return {"status": "reauth_required"}
    except Exception as exc:
        scheduler.finish(
            state_id, token, error=f"{type(exc).__name__}: {exc}", counters=ctx.counters
        )
        raise
    scheduler.finish(state_id, token, counters=ctx.counters)
    log.info("sync %s for user %s finished: %s", service, user_id, ctx.counters)
    return {"status": "ok", "counters": ctx.counters}


@app.task(name="brightsync.sync.run", bind=True, max_retries=None)
def run_sync(self: Any, user_id: int, service: str) -> dict[str, Any]:
    try:
        result = run_once(user_id, service)
    except TransientError as exc:
        # Queue one follow-up unless a notification already queued one.
        countdown = min(MAX_RETRY_COUNTDOWN, max(exc.retry_after or 0, 5 * 2**self.request.retries))
        with session_scope() as s:
            again = scheduler.request_run(s, user_id, service)
        if again:
            raise self.retry(countdown=countdown, exc=exc) from exc
        return {"status": "transient error, a queued run follows", "error": str(exc)}
    if result.get("status") == "busy":
        # Another run holds the lease: wait behind it as the one queued run.
        raise self.retry(countdown=2 + min(30, self.request.retries), max_retries=None)
    return result


@app.task(name="brightsync.maintenance.safety_sync")
def safety_sync() -> int:
    """Sync accounts whose webhooks went quiet, in case notifications were lost."""
    with singleton("safety-sync", 600) as mine:
        if not mine:
            return 0
        cutoff = utcnow() - SAFETY_SYNC_QUIET
        with session_scope() as s:
            users = s.execute(select(User.id, User.services).where(User.mailbox_state == "ok"))
            pairs = [
                (uid, svc) for uid, services in users for svc in services or [] if svc in HANDLERS
            ]
            recent = {
                (st.user_id, st.service)
                for st in s.scalars(select(SyncState).where(SyncState.last_sync_at >= cutoff))
            }
        queued = 0
        for user_id, service in pairs:
            if (user_id, service) in recent:
                continue
            if scheduler.request_and_publish(user_id, service, publish_sync):
                queued += 1
        return queued


NOTIFICATION_RETENTION = timedelta(days=30)


@app.task(name="brightsync.maintenance.prune_notifications")
def prune_notifications() -> int:
    """The notification log is for replay detection and audit; a month of it is plenty."""
    with session_scope() as s:
        return s.execute(
            delete(Notification).where(Notification.received_at < utcnow() - NOTIFICATION_RETENTION)
        ).rowcount


@app.task(name="brightsync.maintenance.check_subscriptions")
def check_subscriptions() -> int:
    """Recreate missing or failing Aurinko subscriptions of every user."""
    from brightsync.subscriptions import ensure_subscriptions

    with singleton("subscription-check", 3600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            user_ids = list(s.scalars(select(User.id).where(User.mailbox_state == "ok")))
        fixed = 0
        for user_id in user_ids:
            try:
                fixed += sum(1 for r in ensure_subscriptions(user_id) if r.get("created"))
            except Exception:
                log.exception("subscription check failed for user %s", user_id)
        return fixed
