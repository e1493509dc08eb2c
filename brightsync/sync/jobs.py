"""Celery tasks that run syncs and keep them healthy. Thin: they take ids and call functions."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from brightsync import recovery, subscriptions
from brightsync.broker import prune_delivered
from brightsync.celery import app
from brightsync.clients.http import TransientError
from brightsync.config import get_settings
from brightsync.connect import links as connect_links
from brightsync.coordination import singleton
from brightsync.db import OUTAGE_ERRORS, outage_countdown, session_scope
from brightsync.domains import SERVICES, run_service
from brightsync.models import Notification, utcnow
from brightsync.sync import first_sync, intake, scheduler, sweeps
from brightsync.sync.creates import BUSY_AGAIN, WritesWaiting

log = logging.getLogger(__name__)

# Retry a failed run after transient trouble, growing up to this cap.
MAX_RETRY_COUNTDOWN = 900
NOTIFICATION_RETENTION = timedelta(days=30)


@app.task(name="brightsync.sync.run", bind=True, max_retries=None)
def run_sync(self: Any, user_id: int, service: str) -> dict[str, Any]:
    try:
        return run_service(user_id, service, requested_only=True, share_work=True)
    except TransientError as exc:
        if isinstance(exc, WritesWaiting):
            # Not a fault to back off from: another worker's create ends within its hold (a
            # minute at most, if that worker died). The run requested this follow-up itself.
            countdown = exc.retry_after or BUSY_AGAIN
            return _follow_up(self, user_id, service, countdown, exc, always=True)
        countdown = min(MAX_RETRY_COUNTDOWN, max(exc.retry_after or 0, 5 * 2**self.request.retries))
        return _follow_up(self, user_id, service, countdown, exc)
    except OUTAGE_ERRORS as exc:
        # The database went away mid-run: the run resumes from its last checkpoint.
        # Retried even when a request was pending already: it may be this very task's.
        countdown = outage_countdown(self.request.retries)
        return _follow_up(self, user_id, service, countdown, exc, always=True)


def _follow_up(
    task: Any, user_id: int, service: str, countdown: float, exc: Exception, *, always: bool = False
) -> dict[str, Any]:
    """Queue one follow-up unless a notification already queued one. The request is marked
    due then, so the sweeper republishes it if this retry is lost; the countdown stays well
    under the Redis visibility timeout. With the database still away the retry goes anyway:
    it starts only if the request was recorded, else the run's lapsed lease brings the
    sweeper."""
    try:
        with session_scope() as s:
            again = scheduler.request_run(
                s, user_id, service, due=utcnow() + timedelta(seconds=countdown)
            )
    except OUTAGE_ERRORS:
        again = True
    if again or always:
        raise task.retry(countdown=countdown, exc=exc) from exc
    return {"status": "transient error, a queued run follows", "error": str(exc)}


@app.task(name="brightsync.sync.intake.drain", acks_late=True)
def drain_intake() -> int:
    """Handle the webhook intake buffer (`sync.intake`, Redis deployments)."""
    return intake.drain()


@app.task(name="brightsync.maintenance.sweep_runs")
def sweep_runs(rebuild: bool = False) -> int:
    """Republish runs whose task was lost (a killed worker, a flushed broker). Every
    BRIGHTSYNC_SWEEP_SECONDS (30). First, a Redis that lost its data is rebuilt from the
    database (`rebuild`: a worker noticed the loss and claimed it; else looked for here)."""
    if rebuild:
        recovery.rebuild(SERVICES)
    else:
        recovery.check_and_rebuild(SERVICES)
    return sweeps.republish_lost()


@app.task(name="brightsync.maintenance.safety_sync")
def safety_sync() -> int:
    """Sync accounts whose webhooks went quiet, in case notifications were lost."""
    return sweeps.sync_quiet(SERVICES)


@app.task(name="brightsync.maintenance.prune_notifications")
def prune_notifications() -> int:
    """The notification log is for replay detection and audit; a month of it is plenty."""
    with session_scope() as s:
        return s.execute(
            delete(Notification).where(Notification.received_at < utcnow() - NOTIFICATION_RETENTION)
        ).rowcount


@app.task(name="brightsync.maintenance.prune_connect_states")
def prune_connect_states() -> int:
    """A mailbox connection's `state` is good for minutes; spent and abandoned ones go."""
    return connect_links.prune_states()


@app.task(name="brightsync.maintenance.prune_broker")
def prune_broker() -> int:
    """The embedded (SQL) broker keeps every delivered message: delete the old ones."""
    with singleton("prune-broker", 600) as mine:
        if not mine:
            return 0
        return prune_delivered(get_settings().broker_url)


@app.task(name="brightsync.maintenance.check_subscriptions")
def check_subscriptions() -> int:
    """Create pending or failing Aurinko subscriptions, and recreate lost ones."""
    return subscriptions.check_due()


@app.task(name="brightsync.subscriptions.ensure", bind=True, max_retries=None)
def ensure_user_subscriptions(self: Any, user_id: int) -> dict[str, Any]:
    states, countdown = subscriptions.ensure_attempt(user_id, self.request.retries)
    # Mail already in the mailbox brings no webhook: each service's first sync starts as
    # soon as its subscription is settled, also while others are still being retried.
    try:
        first_sync.start(user_id, settled_only=True)
    except Exception as exc:  # the broker refused: the safety sync starts them later
        log.warning("first sync of user %s not queued: %s", user_id, type(exc).__name__)
    if countdown is not None:
        raise self.retry(countdown=countdown)
    return states


@app.task(name="brightsync.subscriptions.remove", bind=True, max_retries=None)
def remove_subscriptions(self: Any, subscription_ids: list[str], token_enc: str) -> int:
    left, countdown = subscriptions.unsubscribe_attempt(
        subscription_ids, token_enc, self.request.retries
    )
    if countdown is not None:
        raise self.retry(args=[left, token_enc], countdown=countdown)
    return len(subscription_ids) - len(left)
