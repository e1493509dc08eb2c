"""The Celery app: `celery -A brightsync worker|beat|flower` finds `app` here."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from brightsync.broker import register as register_sql_transport
from brightsync.ops.flower import guard_flower

# `celery -A brightsync flower` loads this module first: Flower gets its credentials (or
# refuses to start) here, wherever it is started from.
guard_flower()
# `sqla+sqlite:///…` (the embedded default) gets our faster-polling SQL transport.
register_sql_transport()

app = Celery("brightsync")
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
