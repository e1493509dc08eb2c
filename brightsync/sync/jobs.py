"""Celery tasks that run syncs and keep them healthy. Thin: they take ids and call functions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from brightsync.celery import app
from brightsync.clients.http import TransientError
from brightsync.config import get_settings
from brightsync.coordination import singleton, sweep_lock_ttl
from brightsync.db import session_scope
from brightsync.models import Notification, SyncState, User, utcnow
from brightsync.sync import scheduler
from brightsync.sync.queue import publish_intake, publish_sync
from brightsync.sync.run import HANDLERS, run_once

log = logging.getLogger(__name__)

# Retry a failed run after transient trouble, growing up to this cap.
MAX_RETRY_COUNTDOWN = 900
SAFETY_SYNC_QUIET = timedelta(minutes=30)


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
