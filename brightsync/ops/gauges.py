"""The gauges a scrape adds to the counters: queue depths from the broker, and counts from
the database (the sync cache, run states, dead tokens, pauses), reused for a while per
process so a scrape never scans the work tables each time."""

from __future__ import annotations

import os
import time
from typing import Any

# One gauge sample: (metric name, labels, value); `metrics.scrape` renders the labels.
Sample = tuple[str, dict[str, Any], float]

QUEUES = ("intake", "sync", "maintenance")


def gauge_ttl() -> float:
    """Seconds the database-derived gauges are reused before being counted again."""
    try:
        return float(os.environ.get("BRIGHTSYNC_METRICS_GAUGE_SECONDS", "60"))
    except ValueError:
        return 60.0


_gauge_cache: tuple[float, list[Sample]] | None = None


def reset_gauge_cache() -> None:
    global _gauge_cache
    _gauge_cache = None


def queue_depths() -> list[Sample]:
    from brightsync.config import get_settings

    settings = get_settings()
    out = []
    if settings.broker_is_redis:
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_timeout=3)
        for queue in QUEUES:
            out.append(("brightsync_queue_depth", {"queue": queue}, client.llen(queue)))
    elif settings.broker_url.startswith(("amqp", "pyamqp")):
        out += _amqp_depths(settings.broker_url)
    elif settings.broker_url.startswith("sqla+"):
        import sqlalchemy as sa

        from brightsync.broker import sql_engine

        engine = sql_engine(settings.broker_url.removeprefix("sqla+"), timeout=5)
        depth: dict[str, int] = {}
        with engine.connect() as conn:
            # The tables appear with the first published message; until then every queue is 0.
            if sa.inspect(conn).has_table("kombu_message"):
                rows = conn.execute(
                    sa.text(
                        "SELECT q.name, count(m.id) FROM kombu_queue q LEFT JOIN kombu_message m"
                        " ON m.queue_id = q.id AND m.visible GROUP BY q.name"
                    )
                )
                depth = {name: n for name, n in rows}
        for queue in QUEUES:
            labels = {"queue": queue}
            out.append(("brightsync_queue_depth", labels, depth.get(queue, 0)))
    return out


def _amqp_depths(url: str) -> list[Sample]:
    """RabbitMQ: each queue's ready messages, from a passive declare (it changes nothing; a
    queue not declared yet counts 0)."""
    from kombu import Connection
    from kombu.exceptions import ChannelError

    out: list[Sample] = []
    with Connection(url, connect_timeout=3) as conn:
        for queue in QUEUES:
            channel = conn.channel()
            try:
                _, ready, _ = channel.queue_declare(queue=queue, passive=True)
            except ChannelError:
                ready = 0  # a passive declare of a missing queue closes its channel
            else:
                channel.close()
            out.append(("brightsync_queue_depth", {"queue": queue}, ready))
    return out


def database_gauges() -> list[Sample]:
    """Counted at most once a minute per process (BRIGHTSYNC_METRICS_GAUGE_SECONDS)."""
    global _gauge_cache
    now = time.monotonic()
    if _gauge_cache is not None and now - _gauge_cache[0] < gauge_ttl():
        return _gauge_cache[1]
    from sqlalchemy import func, select

    from brightsync.db import session_scope
    from brightsync.models import SyncState, UnmatchedItem, User

    out: list[Sample] = []
    with session_scope() as s:
        for kind, n in s.execute(
            select(UnmatchedItem.kind, func.count()).group_by(UnmatchedItem.kind)
        ):
            out.append(("brightsync_unmatched_items", {"kind": kind}, n))
        for service, state, n in s.execute(
            select(SyncState.service, SyncState.state, func.count()).group_by(
                SyncState.service, SyncState.state
            )
        ):
            labels = {"service": service, "state": state}
            out.append(("brightsync_sync_states", labels, n))
        reauth = s.scalar(select(func.count()).select_from(User).where(User.mailbox_state != "ok"))
        out.append(("brightsync_mailboxes_needing_reauth", {}, reauth or 0))
        users = s.scalar(select(func.count()).select_from(User).where(User.paused.is_(True)))
        services = s.scalar(
            select(func.count()).select_from(SyncState).where(SyncState.paused.is_(True))
        )
        out.append(("brightsync_paused", {"scope": "user"}, users or 0))
        out.append(("brightsync_paused", {"scope": "service"}, services or 0))
    _gauge_cache = (now, out)
    return out
