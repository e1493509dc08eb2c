"""The embedded broker: kombu's SQLAlchemy transport, polling fast enough to feel instant.

kombu's SQL transport sleeps `polling_interval` (1 s) whenever every queue is empty, so a
webhook waited half a second on average before a worker even saw its task. The interval is
read from the transport options, but kombu also hands every transport option to
`create_engine()`, which rejects it. This subclass keeps our own options away from the
engine, polls every `POLLING_INTERVAL` seconds by default, and puts SQLite in WAL mode with a
busy timeout so the faster polling never makes publishers fail with "database is locked".

It is registered as the `sqla` transport when the Celery app is imported, so the documented
`sqla+sqlite:///…` URLs keep working unchanged.

kombu keeps every delivered message as a row marked invisible and never deletes it (a message
that goes back to the queue is stored again as a new row), so `prune_delivered` (a
maintenance beat job) deletes delivered rows past a safe age, in bounded batches.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from kombu import Exchange, Queue
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sql
from sqlalchemy import event

QUEUES = ("intake", "sync", "maintenance")


def queue_settings(amqp: bool) -> dict[str, object]:
    """The queues and their Celery settings for the broker in use.

    Each queue has its own exchange and routing key: sharing the default ones would bind every
    queue to every message. On RabbitMQ (`amqp`) the queues are durable quorum queues
    (replicated, on disk: a broker restart or a node loss keeps every task) on topic
    exchanges: quorum queues have no global QoS, so Celery gives each consumer its own
    prefetch (worker_detect_quorum_queues), and a task with a countdown waits in RabbitMQ's
    native delayed delivery queues (not unacknowledged in a worker), which route by topic.
    """
    if not amqp:
        queues = tuple(Queue(n, Exchange(n, type="direct"), routing_key=n) for n in QUEUES)
        return {"task_queues": queues, "task_default_exchange_type": "direct"}
    quorum = {"x-queue-type": "quorum"}
    return {
        "task_queues": tuple(
            Queue(n, Exchange(n, type="topic"), routing_key=n, queue_arguments=quorum)
            for n in QUEUES
        ),
        "task_default_exchange_type": "topic",
        "task_default_queue_type": "quorum",
        "worker_detect_quorum_queues": True,
    }


# An empty poll of the three queues costs three tiny SQLite transactions; ten a second is
# negligible next to a sync and brings pick-up latency to ~50 ms on average.
POLLING_INTERVAL = 0.1
# Transport options that are ours, not create_engine()'s.
OWN_OPTIONS = ("polling_interval",)


class Channel(kombu_sql.Channel):
    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        saved = conninfo.transport_options
        conninfo.transport_options = {k: v for k, v in saved.items() if k not in OWN_OPTIONS}
        try:
            engine = super()._engine_from_config()
        finally:
            conninfo.transport_options = saved
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        return engine


class Transport(kombu_sql.Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL


def register() -> None:
    """Make `sqla+…` broker URLs use this transport in this process."""
    TRANSPORT_ALIASES["sqla"] = "brightsync.broker:Transport"


# Delivered rows are never read again; an hour of them is kept only to look at when
# something goes wrong. A batch is one short write transaction, so publishers and workers
# polling the broker are never held up for long.
DELIVERED_RETENTION = timedelta(hours=1)
PRUNE_BATCH = 2000
PRUNE_MAX_BATCHES = 50

_messages = sa.table(
    "kombu_message",
    sa.column("id", sa.Integer),
    sa.column("visible", sa.Boolean),
    sa.column("timestamp", sa.DateTime),
)
_engines: dict[str, sa.Engine] = {}


def sql_engine(url: str, timeout: float = 30.0) -> sa.Engine:
    """This process's engine on the SQL broker's database (`url` without `sqla+`), for the
    jobs and gauges that read or trim it; `timeout`: seconds to wait for SQLite's lock."""
    key = f"{os.getpid()}:{timeout}:{url}"
    if key not in _engines:
        sqlite = url.startswith("sqlite")
        _engines[key] = sa.create_engine(url, connect_args={"timeout": timeout} if sqlite else {})
    return _engines[key]


def reset_engines() -> None:
    """Forget the broker engines (the settings changed)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def prune_delivered(
    broker_url: str,
    *,
    older_than: timedelta = DELIVERED_RETENTION,
    now: datetime | None = None,
    batch: int = PRUNE_BATCH,
    max_batches: int = PRUNE_MAX_BATCHES,
) -> int:
    """Delete messages the SQL broker delivered more than `older_than` ago; how many.

    Only rows kombu marked invisible on delivery go (their `timestamp` is the delivery time,
    in the broker's local time as kombu writes it); waiting messages are never touched. At
    most `batch * max_batches` rows per call: a backlog goes over a few runs.
    """
    if not broker_url.startswith("sqla+"):
        return 0
    engine = sql_engine(broker_url.removeprefix("sqla+"))
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("kombu_message"):
            return 0  # nothing was ever published
    cutoff = (now or datetime.now()) - older_than  # naive local time, as kombu stores it
    m = _messages.c
    due = (
        sa.select(m.id)
        .where(m.visible.is_(False), m.timestamp < cutoff)
        .order_by(m.id)
        .limit(batch)
        .scalar_subquery()
    )
    deleted = 0
    for _ in range(max_batches):
        with engine.begin() as conn:
            n = conn.execute(sa.delete(_messages).where(m.id.in_(due))).rowcount
        deleted += n
        if n < batch:
            break
    return deleted
