"""Cross-process coordination: named locks with expiry, shared rate budgets and a small
shared cache of short-lived values.

Redis when one is configured (production); the database otherwise (embedded default). Never
process memory: every worker on every machine must see the same lock and the same counter.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Protocol

from sqlalchemy import delete, select

from brightsync.config import get_settings
from brightsync.db import dialect_insert, get_engine, session_scope
from brightsync.models import CacheEntry, Lock, RateWindow, utcnow

log = logging.getLogger(__name__)

# Keys per statement on the database: far below SQLite's bound-parameter limit.
_CACHE_CHUNK = 300


class Coordinator(Protocol):
    def acquire_lock(self, name: str, ttl: float) -> str | None: ...

    def release_lock(self, name: str, token: str) -> None: ...

    def take_rate(self, key: str, limit: int) -> float:
        """Count one request against `limit` per second; 0.0 when granted, else seconds to wait
        before asking again."""
        ...

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The values of those `keys` that were stored less than their ttl ago."""
        ...

    def cache_set_many(self, values: Mapping[str, str], ttl: float) -> None:
        """Store each value under its key (at most 200 characters) for `ttl` seconds."""
        ...


class RedisCoordinator:
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def __init__(self, url: str, prefix: str = "brightsync:") -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        ok = self.redis.set(self.prefix + "lock:" + name, token, nx=True, px=int(ttl * 1000))
        return token if ok else None

    def release_lock(self, name: str, token: str) -> None:
        self.redis.eval(self._RELEASE, 1, self.prefix + "lock:" + name, token)

    def take_rate(self, key: str, limit: int) -> float:
        now = time.time()
        window = int(now)
        rkey = f"{self.prefix}rate:{key}:{window}"
        pipe = self.redis.pipeline()
        pipe.incr(rkey)
        pipe.expire(rkey, 2)
        count = pipe.execute()[0]
        if count <= limit:
            return 0.0
        return max(0.001, window + 1 - now)

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        found = self.redis.mget([self.prefix + "cache:" + k for k in keys])
        return {k: v.decode() for k, v in zip(keys, found, strict=True) if v is not None}

    def cache_set_many(self, values: Mapping[str, str], ttl: float) -> None:
        if not values or ttl <= 0:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(self.prefix + "cache:" + key, value, px=max(1, int(ttl * 1000)))
        pipe.execute()


class DatabaseCoordinator:
    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        now = utcnow()
        with session_scope() as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.expires_at < now))
            if s.get(Lock, name) is not None:
                return None
            s.add(Lock(name=name, owner=token, expires_at=now + timedelta(seconds=ttl)))
        return token

    def release_lock(self, name: str, token: str) -> None:
        with session_scope() as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.owner == token))

    def take_rate(self, key: str, limit: int) -> float:
        now = time.time()
        window = int(now)
        ins = dialect_insert(get_engine())(RateWindow)
        stmt = ins.values(key=key, window=window, count=1).on_conflict_do_update(
            index_elements=["key", "window"], set_={"count": RateWindow.count + 1}
        )
        with session_scope() as s:
            s.execute(stmt)
            count = s.scalar(
                select(RateWindow.count).where(RateWindow.key == key, RateWindow.window == window)
            )
            # Old windows are useless; trimming here keeps the table at a few rows per key.
            s.execute(
                delete(RateWindow).where(RateWindow.key == key, RateWindow.window < window - 5)
            )
        if count is not None and count <= limit:
            return 0.0
        return max(0.001, window + 1 - now)

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        now = utcnow()
        out: dict[str, str] = {}
        with session_scope() as s:
            for start in range(0, len(keys), _CACHE_CHUNK):
                rows = s.execute(
                    select(CacheEntry.key, CacheEntry.value).where(
                        CacheEntry.key.in_(keys[start : start + _CACHE_CHUNK]),
                        CacheEntry.expires_at > now,
                    )
                )
                out.update({k: v for k, v in rows})
        return out

    def cache_set_many(self, values: Mapping[str, str], ttl: float) -> None:
        if not values or ttl <= 0:
            return
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        # Sorted, so two workers storing overlapping keys lock their rows in the same order.
        rows = [{"key": k, "value": values[k], "expires_at": expires} for k in sorted(values)]
        insert = dialect_insert(get_engine())
        with session_scope() as s:
            for start in range(0, len(rows), _CACHE_CHUNK):
                ins = insert(CacheEntry).values(rows[start : start + _CACHE_CHUNK])
                s.execute(
                    ins.on_conflict_do_update(
                        index_elements=["key"],
                        set_={"value": ins.excluded.value, "expires_at": ins.excluded.expires_at},
                    )
                )
        # Expired rows go in their own transaction (indexed: only what is due is touched). Two
        # workers pruning at once may collide; that costs nothing but this round's prune.
        try:
            with session_scope() as s:
                s.execute(delete(CacheEntry).where(CacheEntry.expires_at <= now))
        except Exception as exc:  # noqa: BLE001 - best effort, the next store prunes again
            log.debug("cache prune skipped: %s", exc)


@lru_cache(maxsize=1)
def get_coordinator() -> Coordinator:
    url = get_settings().redis_url
    return RedisCoordinator(url) if url else DatabaseCoordinator()


def reset_coordinator() -> None:
    get_coordinator.cache_clear()


def wait_for_budget(key: str, limit: int, *, max_wait: float = 30.0) -> None:
    """Block until one request fits the shared budget `limit` per second."""
    coordinator = get_coordinator()
    deadline = time.monotonic() + max_wait
    while True:
        wait = coordinator.take_rate(key, limit)
        if wait <= 0:
            return
        if time.monotonic() + wait > deadline:
            raise TimeoutError(f"rate budget {key!r} stayed exhausted for {max_wait}s")
        time.sleep(wait)


@contextmanager
def lock(name: str, ttl: float = 60.0, wait: float = 30.0) -> Iterator[bool]:
    """Wait up to `wait` seconds for a lock; yields False if it could not be had."""
    coordinator = get_coordinator()
    deadline = time.monotonic() + wait
    token = coordinator.acquire_lock(name, ttl)
    while token is None and time.monotonic() < deadline:
        time.sleep(0.05)
        token = coordinator.acquire_lock(name, ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            coordinator.release_lock(name, token)


def singleton(name: str, ttl: float) -> AbstractContextManager[bool]:
    """`with singleton("unmatched-retry", 3600) as mine:` — run the body only if `mine`."""
    return lock(name, ttl=ttl, wait=0)


def sweep_lock_ttl() -> float:
    """A sweep's singleton lock outlives no sweep interval (a killed sweep never skips two)."""
    return max(1.0, get_settings().sweep_seconds * 0.8)
