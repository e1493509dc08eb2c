"""The Celery app: `celery -A brightsync worker|beat|flower` finds `app` here."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task, bootsteps
from celery.signals import worker_process_init

from brightsync.broker import register as register_sql_transport
from brightsync.db import OUTAGE_ERRORS
from brightsync.ops.flower import guard_flower

# `celery -A brightsync flower` loads this module first: Flower gets its credentials (or
# refuses to start) here, wherever it is started from.
guard_flower()
# `sqla+sqlite:///…` (the embedded default) gets our faster-polling SQL transport.
register_sql_transport()


class BrightTask(Task):  # type: ignore[misc]
    """Every task retries, with growing pauses, when the database went away under it: the
    pool was invalidated and reconnects, and tasks are idempotent (a run resumes from its
    last checkpoint, claims are fenced on their leases)."""

    autoretry_for = OUTAGE_ERRORS
    retry_backoff = 1
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 12


app = Celery("brightsync", task_cls=BrightTask)
app.config_from_object("celeryconfig")
# Task modules are named jobs.py so Celery's tasks and the to-do "tasks" domain never collide.
app.conf.include = [
    "brightsync.sync.jobs",
    "brightsync.email.jobs",
    "brightsync.sync_cache.jobs",
    "brightsync.ops.jobs",
]


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # A forked pool child must not share the parent's database sockets.
    from brightsync.db import reset_engine

    reset_engine()


log = logging.getLogger(__name__)

SWEEP_RUNS_TASK = "brightsync.maintenance.sweep_runs"
# How often each worker looks for the Redis generation key (one GET); brightsync.generation.
GENERATION_CHECK_SECONDS = 5.0


def declare_queues() -> None:
    """Declare every queue with its exchange and binding on the broker, bypassing kombu's
    per-connection "already declared" cache (Redis keeps the bindings as keys: a flushed
    Redis drops every message published to an exchange until they are declared again)."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.amqp.queues.values():
            queue.bind(channel).declare()


def check_generation() -> None:
    """A worker's look for a Redis data loss: when this worker noticed it first, the queues
    are declared again and a rebuilding sweep is published (brightsync.recovery)."""
    from brightsync import generation

    try:
        if not generation.check():
            return
    except Exception as exc:  # noqa: BLE001 - Redis or the database away: look again later
        log.debug("generation check skipped: %s", exc)
        return
    try:
        declare_queues()
        app.send_task(SWEEP_RUNS_TASK, kwargs={"rebuild": True}, queue="maintenance")
    except Exception:
        log.warning("rebuild after a Redis data loss not queued; the next check retries")
        generation.forget()


class GenerationWatch(bootsteps.StartStopStep):
    """Checks for a Redis data loss each time the worker's consumer (re)connects to the broker
    and every GENERATION_CHECK_SECONDS while it runs (in the worker's main process)."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, c: Any) -> None:
        check_generation()
        self.tref = c.timer.call_repeatedly(GENERATION_CHECK_SECONDS, check_generation)

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


app.steps["consumer"].add(GenerationWatch)


def reconfigure() -> None:
    """Point the app at the current settings' broker (tests switch backends in one process)."""
    from brightsync.config import broker_settings, get_settings

    app.conf.update(broker_settings(get_settings()))
    app._pool = None
    app.__dict__.pop("amqp", None)


def celery_init_app(flask_app: object | None = None) -> Celery:
    """Flask-style wiring: the web app publishes through this same configured Celery app."""
    if flask_app is not None:
        flask_app.extensions["celery"] = app  # type: ignore[attr-defined]
    return app
