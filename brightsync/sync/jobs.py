"""Celery tasks that run syncs and keep them healthy. Thin: they take ids and call functions."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.orm import Session

from brightsync.celery import app
from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.http import TransientError
from brightsync.config import get_settings
from brightsync.coordination import singleton
from brightsync.db import session_scope
from brightsync.models import Notification, SyncState, User, utcnow
from brightsync.ops.actions import is_paused
from brightsync.review.mode import in_review
from brightsync.sync import leases, scheduler

log = logging.getLogger(__name__)

# service -> "module:function(user_id, run) -> counters". Domains register by name so this
# module imports none of them (and a domain that has not landed yet is reported, not crashed).
HANDLERS: dict[str, str] = {
    "email": "brightsync.email.sync:sync_mailbox",
    "calendar": "brightsync.calendar.jobs:sync_calendar",
    "tasks": "brightsync.tasks.jobs:sync_tasks",
    "contacts": "brightsync.contacts.jobs:sync_contacts",
}

# What a service runs instead while its user or organisation is in review mode. Two-way
# domains need none: the engine itself plans, records and writes nothing in review mode.
REVIEW_HANDLERS: dict[str, str] = {"email": "brightsync.review.email:review_mailbox"}

# Retry a failed run after transient trouble, growing up to this cap.
MAX_RETRY_COUNTDOWN = 900
SAFETY_SYNC_QUIET = timedelta(minutes=30)


@dataclass
class RunContext:
    """What a domain's sync function gets besides the user id.

    `token` is the run's fencing token: rows the run works on (e.g. email claims) are leased
    to it too, and `hold()` puts them under the run's heartbeat. Every change to the run's own
    state goes through `renew()` / `checkpoint()`, which raise LeaseLost once another run owns
    the mailbox. `share_work`: other worker processes take tasks, so a run may hand part of
    its work to them (a run in the CLI or a test finishes everything itself).
    """

    state_id: int
    token: str
    counters: dict[str, int] = field(default_factory=dict)
    heartbeat: leases.Heartbeat | None = None
    share_work: bool = False

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def renew(self, progress: dict[str, int] | None = None) -> None:
        """Long runs call this between pages: keeps the lease and shows how far they got."""
        if self.heartbeat is not None:
            self.heartbeat.check()
        scheduler.renew(self.state_id, self.token, progress)

    def checkpoint(self, **values: Any) -> None:
        """Store sync_state columns (delta tokens, resume position) while the lease is ours."""
        scheduler.checkpoint(self.state_id, self.token, **values)

    def hold(self, model: Any, *where: ColumnElement[bool]) -> None:
        """Keep the leases this run holds on `model` rows alive as long as the run's."""
        if self.heartbeat is not None:
            self.heartbeat.renewals.append(lambda: leases.renew(model, self.token, where=where))


def handler_for(service: str, review: bool = False) -> Callable[[int, RunContext], Any] | None:
    target = (review and REVIEW_HANDLERS.get(service)) or HANDLERS.get(service)
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


def run_once(
    user_id: int, service: str, *, requested_only: bool = False, share_work: bool = False
) -> dict[str, Any]:
    """Run one sync in this process if no other run holds the lease (CLI and tasks use it).

    `requested_only` (tasks): run only if a run is still pending. A task that finds the lease
    busy ends at once: the holder hands over to the pending run when it finishes.
    `share_work` (tasks): the run may publish part of its work for other workers.
    """
    with session_scope() as s:
        state_id = scheduler.ensure_state(s, user_id, service).id
        user = s.get(User, user_id)
        if user is None:
            return {"status": "no such user"}
        if user.mailbox_state == "reauth_required":
            scheduler.clear_pending(state_id)
            return {"status": "skipped", "reason": "mailbox needs re-authorisation"}
        paused = is_paused(s, user_id, service)
        review = in_review(s, user_id)
    if paused:  # an operator paused the user or this service: no run starts until resumed
        scheduler.clear_pending(state_id)
        return {"status": "skipped", "reason": "paused"}
    token = scheduler.try_start(state_id, requested_only=requested_only)
    if token is None:
        return {"status": "busy", "state_id": state_id}
    handler = handler_for(service, review)
    ctx = RunContext(state_id=state_id, token=token, share_work=share_work)
    if handler is None:
        scheduler.finish(state_id, token, error=f"{service} sync is not available in this version")
        return {"status": "unsupported"}
    log.info("sync %s for user %s started", service, user_id)
    heartbeat = leases.Heartbeat([lambda: leases.renew(SyncState, token, row_id=state_id)])
    ctx.heartbeat = heartbeat
    try:
        with heartbeat:
            handler(user_id, ctx)
    except leases.LeaseLost:
        log.warning("sync %s for user %s lost its lease; stopping", service, user_id)
        return {"status": "lease lost"}
    except TokenDeadError as exc:
        mark_reauth(user_id, str(exc))
        scheduler.finish(
            state_id, token, error=f"mailbox needs re-authorisation: {exc}", counters=ctx.counters
        )
        return {"status": "reauth_required"}
    except SoftTimeLimitExceeded:
        # Out of time: the run checkpointed as it went; a follow-up continues from there.
        with session_scope() as s:
            scheduler.request_run(s, user_id, service)
        _finish(user_id, service, state_id, token, ctx.counters)
        return {"status": "continued later", "counters": ctx.counters}
    except Exception as exc:
        _finish(
            user_id, service, state_id, token, ctx.counters, error=f"{type(exc).__name__}: {exc}"
        )
        raise
    _finish(user_id, service, state_id, token, ctx.counters)
    log.info("sync %s for user %s finished: %s", service, user_id, ctx.counters)
    return {"status": "ok", "counters": ctx.counters}


def _finish(
    user_id: int,
    service: str,
    state_id: int,
    token: str,
    counters: dict[str, int],
    error: str | None = None,
) -> None:
    """Release the lease; hand over to a pending follow-up at once (no fixed countdown)."""
    if scheduler.finish(state_id, token, error=error, counters=counters):
        try:
            publish_intake(user_id, service)
        except Exception:  # noqa: BLE001 - broker down: the sweeper republishes it
            log.warning("hand-over of %s sync for user %s not published", service, user_id)


@app.task(name="brightsync.sync.run", bind=True, max_retries=None)
def run_sync(self: Any, user_id: int, service: str) -> dict[str, Any]:
    try:
        return run_once(user_id, service, requested_only=True, share_work=True)
    except TransientError as exc:
        # Queue one follow-up unless a notification already queued one. The request is marked
        # due then, so the sweeper republishes it if this retry is lost; the countdown stays
        # well under the Redis visibility timeout.
        countdown = min(MAX_RETRY_COUNTDOWN, max(exc.retry_after or 0, 5 * 2**self.request.retries))
        with session_scope() as s:
            again = scheduler.request_run(
                s, user_id, service, due=utcnow() + timedelta(seconds=countdown)
            )
        if again:
            raise self.retry(countdown=countdown, exc=exc) from exc
        return {"status": "transient error, a queued run follows", "error": str(exc)}


def sweep_lock_ttl() -> float:
    """A sweep's singleton lock outlives no sweep interval (a killed sweep never skips two)."""
    return max(1.0, get_settings().sweep_seconds * 0.8)


@app.task(name="brightsync.maintenance.sweep_runs")
def sweep_runs() -> int:
    """Republish runs whose task was lost (a killed worker, a flushed broker). Every
    BRIGHTSYNC_SWEEP_SECONDS (30)."""
    with singleton("sweep-runs", sweep_lock_ttl()) as mine:
        if not mine:
            return 0
        from brightsync.sync import intake

        if drained := intake.drain_stalled():
            log.info("drained %d notification(s) whose drain task was lost", drained)
        due = scheduler.due_for_republish()
        for user_id, service in due:
            publish_intake(user_id, service)
        if due:
            log.info("republished %d lost sync run(s)", len(due))
        return len(due)


@app.task(name="brightsync.maintenance.safety_sync")
def safety_sync() -> int:
    """Sync accounts whose webhooks went quiet, in case notifications were lost."""
    with singleton("safety-sync", 600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            due = quiet_services(s, utcnow() - SAFETY_SYNC_QUIET)
        queued = 0
        for user_id, service in due:
            if scheduler.request_and_publish(user_id, service, publish_sync):
                queued += 1
        return queued


def quiet_services(session: Session, cutoff: datetime) -> list[tuple[int, str]]:
    """(user, service) pairs not synced since `cutoff` (or never), neither paused nor dead.

    Indexed on sync_state.last_sync_at: the cost follows the services due, not every user.
    Each registered service has its state row from registration on (never synced: NULL).
    """
    rows = session.execute(quiet_services_query(cutoff))
    # A service the user no longer has keeps its row (and history) but is not synced.
    return sorted((uid, svc) for uid, svc, services in rows if svc in (services or []))


def quiet_services_query(cutoff: datetime) -> Select[tuple[int, str, list[Any]]]:
    return (
        select(SyncState.user_id, SyncState.service, User.services)
        .join(User, User.id == SyncState.user_id)
        .where(
            (SyncState.last_sync_at < cutoff) | SyncState.last_sync_at.is_(None),
            SyncState.service.in_(sorted(HANDLERS)),
            SyncState.paused.is_(False),
            User.paused.is_(False),
            User.mailbox_state == "ok",
        )
    )


NOTIFICATION_RETENTION = timedelta(days=30)


@app.task(name="brightsync.maintenance.prune_notifications")
def prune_notifications() -> int:
    """The notification log is for replay detection and audit; a month of it is plenty."""
    with session_scope() as s:
        return s.execute(
            delete(Notification).where(Notification.received_at < utcnow() - NOTIFICATION_RETENTION)
        ).rowcount


@app.task(name="brightsync.maintenance.prune_broker")
def prune_broker() -> int:
    """The embedded (SQL) broker keeps every delivered message: delete the old ones."""
    from brightsync.broker import prune_delivered

    with singleton("prune-broker", 600) as mine:
        if not mine:
            return 0
        return prune_delivered(get_settings().broker_url)


@app.task(name="brightsync.maintenance.check_subscriptions")
def check_subscriptions() -> int:
    """Create pending or failing Aurinko subscriptions, and recreate lost ones: each user with
    a subscription not active, or not verified at Aurinko for a day (O(due), not every user)."""
    from brightsync.subscriptions import SubscriptionsBusy, due_for_check, ensure_subscriptions

    with singleton("subscription-check", 3600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            user_ids = due_for_check(s)
        fixed = 0
        for user_id in user_ids:
            try:
                fixed += sum(1 for r in ensure_subscriptions(user_id) if r.created)
            except SubscriptionsBusy:
                continue  # the registration task is on it
            except Exception:
                log.exception("subscription check failed for user %s", user_id)
        return fixed


# Registration's subscription task retries transient Aurinko trouble for about an hour
# (5 s doubling, capped at 10 min) before marking what is still pending as failed; the
# periodic check above picks failed ones up again later.
SUBSCRIPTION_RETRIES = 10
SUBSCRIPTION_MAX_COUNTDOWN = 600


def subscription_countdown(retries: int) -> int:
    return min(SUBSCRIPTION_MAX_COUNTDOWN, 5 * 2**retries)


@app.task(name="brightsync.subscriptions.ensure", bind=True, max_retries=None)
def ensure_user_subscriptions(self: Any, user_id: int) -> dict[str, Any]:
    from brightsync.subscriptions import SubscriptionsBusy, ensure_subscriptions, fail_pending

    try:
        outcomes = ensure_subscriptions(user_id)
    except SubscriptionsBusy:
        raise self.retry(countdown=5) from None
    transient = [o for o in outcomes if o.transient]
    if transient:
        if self.request.retries >= SUBSCRIPTION_RETRIES:
            fail_pending(user_id, transient[0].error or "Aurinko kept failing")
        else:
            raise self.retry(countdown=subscription_countdown(self.request.retries))
    return {o.service: o.state for o in outcomes}


def publish_subscriptions(user_id: int) -> None:
    """Queue the creation of a user's subscriptions (on "intake": a new user waits on it).
    Raises when the broker cannot take it, after a short retry budget."""
    ensure_user_subscriptions.apply_async(
        args=[user_id],
        queue="intake",
        retry=True,
        retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    )
