"""Engine and sessions, one per process; tasks published only after their transaction commits."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from brightsync.config import get_settings

log = logging.getLogger(__name__)

_engine: Engine | None = None
_engine_pid: int | None = None
_factory: sessionmaker[Session] | None = None


def _configure_sqlite(engine: Engine) -> None:
    # SQLite serialises writers; take the write lock at BEGIN so two processes never deadlock
    # upgrading a read lock, and wait for it instead of failing with "database is locked".
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# A pooled connection idle longer than this is checked (SELECT 1) before use; a busy one is
# not: no health-check round trip per request under load, yet a server restart during a
# quiet spell is noticed before it fails a request.
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:
            # The pool drops this connection and checks out a fresh one.
            raise DisconnectionError("stale pooled connection") from exc


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10)
    _ping_idle_connections(engine)
    return engine


# What a database away (restarted, failed over, connections dropped) raises. SQLAlchemy
# invalidates the whole pool on the first disconnect it sees, so the next attempt reconnects:
# tasks retry on these with backoff (brightsync.celery.Task) and the web answers 503.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError)


def outage_countdown(retries: int) -> float:
    """Seconds before retrying after an outage: 1, 2, 4 … up to a minute."""
    return float(min(60, 2 ** max(0, retries)))


def get_engine() -> Engine:
    """The process's engine; a forked child (Celery prefork, gunicorn) gets its own pool."""
    global _engine, _engine_pid, _factory
    if _engine is None or _engine_pid != os.getpid():
        if _engine is not None:
            _engine.dispose(close=False)
        _engine = make_engine(get_settings().database_url)
        _engine_pid = os.getpid()
        _factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    global _engine, _engine_pid, _factory
    if _engine is not None and _engine_pid == os.getpid():
        _engine.dispose()
    _engine = _engine_pid = _factory = None


def new_session() -> Session:
    get_engine()
    assert _factory is not None
    return _factory()


class NestedTransactionError(RuntimeError):
    """A transaction was begun in a thread that already holds one open.

    On SQLite every transaction takes the write lock at BEGIN, so the inner one would wait
    for its own thread (the busy timeout, 60 s) and fail with "database is locked", stalling
    every other process meanwhile; on PostgreSQL it may wait for a row lock the outer one
    holds. Finish the outer transaction first, or do the work on its session.
    """


# The session_scope sessions each thread has open, innermost last.
_scopes = threading.local()


def _open_scopes() -> list[Session]:
    if not hasattr(_scopes, "sessions"):
        _scopes.sessions = []
    return _scopes.sessions


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: commit on success, roll back on error, then run after-commit hooks.

    One at a time per thread: opening one while an enclosing one has begun raises
    NestedTransactionError (see there why), so a nesting fails at once instead of wedging.
    """
    scopes = _open_scopes()
    if any(outer.in_transaction() for outer in scopes):
        raise NestedTransactionError(
            "session_scope() opened inside another transaction of this thread"
        )
    session = new_session()
    scopes.append(session)
    try:
        yield session
        scopes.remove(session)  # after-commit hooks may open their own transaction
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if session in scopes:
            scopes.remove(session)
        session.close()


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run `callback` once the session's transaction commits; drop it on rollback.

    Tasks are published this way so a worker never picks up an id whose row is not yet
    visible, and a rolled-back change never triggers work.
    """
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


def dialect_insert(bind: Session | Engine) -> Callable[..., Any]:
    """`insert` with ON CONFLICT support for the backend in use (SQLite or PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if isinstance(bind, Session):
        bind = bind.get_bind()
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
