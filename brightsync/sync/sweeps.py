"""What keeps runs flowing when something was lost: the sweeper republishes runs whose task
vanished (a killed worker, a flushed broker), and the safety sync runs services whose webhooks
went quiet, in case notifications were lost. Beat calls both through `sync.jobs`."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from brightsync.config import get_settings
from brightsync.coordination import singleton, sweep_lock_ttl
from brightsync.db import session_scope
from brightsync.models import SyncState, User, utcnow
from brightsync.sync import intake, scheduler
from brightsync.sync.queue import publish_intake, publish_sync

log = logging.getLogger(__name__)

# Beat's safety sync runs a service whose webhooks went quiet this long after its last run
# (the default of BRIGHTSYNC_SAFETY_SYNC_SECONDS: `safety_sync_period()`).
SAFETY_SYNC_QUIET = timedelta(minutes=30)


def safety_sync_period() -> timedelta:
    """How long a service may stay quiet before the safety sync runs it."""
    return timedelta(seconds=get_settings().safety_sync_seconds)


def republish_lost() -> int:
    """Republish runs whose task was lost (and drain a buffer whose drain task was lost);
    returns how many runs. One sweeper at a time."""
    with singleton("sweep-runs", sweep_lock_ttl()) as mine:
        if not mine:
            return 0
        if drained := intake.drain_stalled():
            log.info("drained %d notification(s) whose drain task was lost", drained)
        due = scheduler.due_for_republish()
        for user_id, service in due:
            publish_intake(user_id, service)
        if due:
            log.info("republished %d lost sync run(s)", len(due))
        return len(due)


def rebuild_runs(services: Collection[str]) -> int:
    """Redis lost its data: every active (user, service) gets a run, published now on "sync".

    Cheap: delta tokens are durable, so each run reads only what changed since its last
    checkpoint, and that covers whatever notification or queued task vanished. Returns how
    many runs were published (a running one hands over to its follow-up instead).
    """
    with session_scope() as s:
        ids = [
            state_id
            for state_id, svc, services_ in s.execute(active_states_query(services))
            if svc in (services_ or [])
        ]
    free = scheduler.request_everything(ids)
    for user_id, service in free:
        # A refused publish leaves the run pending: the next sweep republishes it.
        publish_sync(user_id, service)
    return len(free)


def active_states_query(services: Collection[str]) -> Select[tuple[int, str, list[Any]]]:
    """Every service state row that may run: neither paused nor dead."""
    return (
        select(SyncState.id, SyncState.service, User.services)
        .join(User, User.id == SyncState.user_id)
        .where(
            SyncState.service.in_(sorted(services)),
            SyncState.paused.is_(False),
            User.paused.is_(False),
            User.mailbox_state == "ok",
        )
    )


def sync_quiet(services: Collection[str]) -> int:
    """Queue a run of every one of `services` not synced for `safety_sync_period()`; returns
    how many."""
    with singleton("safety-sync", 600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            due = quiet_services(s, utcnow() - safety_sync_period(), services)
        queued = 0
        for user_id, service in due:
            if scheduler.request_and_publish(user_id, service, publish_sync):
                queued += 1
        return queued


def quiet_services(
    session: Session, cutoff: datetime, services: Collection[str]
) -> list[tuple[int, str]]:
    """(user, service) pairs not synced since `cutoff` (or never), neither paused nor dead.

    Indexed on sync_state.last_sync_at: the cost follows the services due, not every user.
    Each registered service has its state row from registration on (never synced: NULL).
    """
    rows = session.execute(quiet_services_query(cutoff, services))
    # A service the user no longer has keeps its row (and history) but is not synced.
    return sorted((uid, svc) for uid, svc, services in rows if svc in (services or []))


def quiet_services_query(
    cutoff: datetime, services: Collection[str]
) -> Select[tuple[int, str, list[Any]]]:
    return (
        select(SyncState.user_id, SyncState.service, User.services)
        .join(User, User.id == SyncState.user_id)
        .where(
            (SyncState.last_sync_at < cutoff) | SyncState.last_sync_at.is_(None),
            SyncState.service.in_(sorted(services)),
            SyncState.paused.is_(False),
            User.paused.is_(False),
            User.mailbox_state == "ok",
        )
    )
