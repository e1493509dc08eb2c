"""Noticing that Redis lost its data (a restart without persistence, a FLUSHDB, a failover to
an empty replica), so what lived only there can be rebuilt from the database.

Redis holds what may vanish at any time: buffered webhook notifications, queued tasks (when it
is the broker) and kombu's queue bindings, locks, rate budgets and caches. A marker key, the
*generation*, lives next to them and vanishes with them; the database keeps a copy. Whoever
checks (every worker on (re)connecting to the broker and every few seconds, the run sweeper
each sweep) and finds the key gone while the database remembers one knows Redis lost its data:
it sets a new generation (SET NX, so one checker per loss) and rebuilds (brightsync.recovery).

Without Redis (the embedded default) the check is a no-op: its broker, locks and caches live in
a database, and a lost database is the loss of the state itself, with nothing to rebuild from.
RabbitMQ keeps its quorum queues on disk; with REDIS_URL set next to it the check still guards
what Redis holds (locks, budgets, caches).
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select

from brightsync.config import Settings, get_settings
from brightsync.db import dialect_insert, session_scope
from brightsync.models import CacheEntry

log = logging.getLogger(__name__)

KEY = "brightsync:generation"
# The database's copy: a coordination_cache row that never expires.
DB_KEY = "redis-generation"
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)

Verdict = Literal["intact", "new", "lost"]


def verdict(in_redis: str | None, in_database: str | None) -> Verdict:
    """What a check found. A missing key is "new" (first start, or the database was reset:
    nothing to rebuild) unless the database remembers one: then Redis lost its data."""
    if in_redis is not None:
        return "intact"
    return "lost" if in_database is not None else "new"


_clients: dict[tuple[str, int], Any] = {}


def _redis(url: str) -> Any:
    import redis

    key = (url, os.getpid())
    if key not in _clients:
        # Short timeouts: a worker checks from its consumer loop, which must not stall long.
        _clients[key] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _clients[key]


def _stored() -> str | None:
    with session_scope() as s:
        return s.scalar(select(CacheEntry.value).where(CacheEntry.key == DB_KEY))


def _store(value: str) -> None:
    with session_scope() as s:
        ins = dialect_insert(s)(CacheEntry).values(key=DB_KEY, value=value, expires_at=FOREVER)
        s.execute(
            ins.on_conflict_do_update(index_elements=["key"], set_={"value": ins.excluded.value})
        )


def check(settings: Settings | None = None) -> bool:
    """True when Redis lost its data since the last check and this caller is the one that
    must rebuild (exactly one caller per loss). One GET while all is well.

    Raises when Redis or the database is unreachable (the caller checks again later).
    """
    url = (settings or get_settings()).redis_url
    if not url:
        return False
    client = _redis(url)
    if client.get(KEY) is not None:
        return False
    found = verdict(None, _stored())
    new = uuid.uuid4().hex
    if not client.set(KEY, new, nx=True):
        return False  # another process noticed first and rebuilds
    _store(new)
    if found == "lost":
        log.warning("Redis lost its data (generation key gone): rebuilding from the database")
        return True
    return False


def forget(settings: Settings | None = None) -> None:
    """Undo a claimed loss whose rebuild failed, so the next check claims it again."""
    url = (settings or get_settings()).redis_url
    if url:
        _redis(url).delete(KEY)
