"""The webhook's database intake path (the embedded default, BRIGHTSYNC_WEBHOOK_INTAKE=database):
one transaction on a DB-API connection the web process holds.

The account, the run request (one upsert: the coalescing protocol of
brightsync.sync.scheduler: the state row is created when missing, `pending_since` set where
no run is pending or only a stale one; RETURNING yields a row exactly for the caller that
flipped it, who publishes) and the audit row (its digest is unique: nothing returned is a
replay, which changes nothing).

SQLite runs them as three statements in one transaction (rolled back on a replay): they cost
no round trip. Web processes take turns for SQLite's write lock on a file lock beside the
database, which wakes the next one at once instead of SQLite's sleeping retries.

PostgreSQL runs them as one statement in autocommit (`_FOLDED`): one round trip instead of five
(BEGIN, three statements, COMMIT), each of which costs a context switch on both sides. There a
replay requests no run because the statement first looks for its digest; a replay racing its
original waits on the original's row locks and then finds the run pending and the digest taken,
so it changes nothing either.

Why not SQLAlchemy here: its per-statement execution context, the pool checkout and the
BEGIN event cost three times what SQLite spends on the statements; the statements are fixed,
so they are written out once below (tests/web read every row they write back through the
ORM, and compare with the Flask path's, so a schema change that breaks them fails there).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete

from brightsync.db import get_engine
from brightsync.models import Notification, utcnow
from brightsync.sync import scheduler
from brightsync.sync.intake import audit_row

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own busy handler serialises writers
    fcntl = None  # type: ignore[assignment]


class Replay(Exception):
    """The delivery was accepted before (its digest is recorded)."""


_USER = "SELECT id, services FROM user_account WHERE aurinko_account_id = %(account)s"
# The columns a new sync_state row gets from its model defaults, written out (state queued).
_REQUEST = """
INSERT INTO sync_state (user_id, service, pending_since, state, runs, counters, paused,
                        updated_at)
VALUES (%(user_id)s, %(service)s, %(now)s, 'queued', 0, '{}', false, %(now)s)
ON CONFLICT (user_id, service) DO UPDATE
SET pending_since = %(now)s, state = 'queued', updated_at = %(now)s
WHERE sync_state.pending_since IS NULL OR sync_state.pending_since < %(stale)s
RETURNING id
"""
_AUDIT = """
INSERT INTO notification (digest, account_id, resource, subscription, user_id,
                          lifecycle_event, payload_count, outcome, received_at)
VALUES (%(digest)s, %(account_id)s, %(resource)s, %(subscription)s, %(user_id)s,
        %(lifecycle_event)s, %(payload_count)s, %(outcome)s, %(received_at)s)
ON CONFLICT (digest) DO NOTHING
RETURNING id
"""

_FOLDED = """
WITH u AS (SELECT id, services FROM user_account WHERE aurinko_account_id = %(account)s),
wanted AS (
    SELECT id FROM u
    WHERE CAST(%(service)s AS text) IS NOT NULL AND u.services::jsonb ? %(service)s
),
req AS (
    INSERT INTO sync_state (user_id, service, pending_since, state, runs, counters, paused,
                            updated_at)
    SELECT id, %(service)s, %(now)s, 'queued', 0, '{}', false, %(now)s FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM notification WHERE digest = %(digest)s)
    ON CONFLICT (user_id, service) DO UPDATE
    SET pending_since = %(now)s, state = 'queued', updated_at = %(now)s
    WHERE sync_state.pending_since IS NULL OR sync_state.pending_since < %(stale)s
    RETURNING id
),
aud AS (
    INSERT INTO notification (digest, account_id, resource, subscription, user_id,
                              lifecycle_event, payload_count, outcome, received_at)
    VALUES (%(digest)s, %(account_id)s, %(resource)s, %(subscription)s, (SELECT id FROM u),
            %(lifecycle_event)s, %(payload_count)s,
            CASE WHEN NOT EXISTS (SELECT 1 FROM wanted) THEN 'ignored'
                 WHEN EXISTS (SELECT 1 FROM req) THEN 'enqueued' ELSE 'coalesced' END,
            %(received_at)s)
    ON CONFLICT (digest) DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM u), EXISTS (SELECT 1 FROM wanted), EXISTS (SELECT 1 FROM req),
       EXISTS (SELECT 1 FROM aud)
"""


# _FOLDED's parameters in order, with their types: PREPAREd once per connection, so
# PostgreSQL parses and plans the statement once, not per webhook.
_FOLDED_PARAMS = (
    ("account", "text"),
    ("service", "text"),
    ("now", "timestamptz"),
    ("digest", "text"),
    ("stale", "timestamptz"),
    ("account_id", "text"),
    ("resource", "text"),
    ("subscription", "text"),
    ("lifecycle_event", "text"),
    ("payload_count", "integer"),
    ("received_at", "timestamptz"),
)


def _prepared(sql: str) -> tuple[str, str]:
    """(PREPARE statement, EXECUTE statement in psycopg2's paramstyle) for `_FOLDED`."""
    for n, (name, _) in enumerate(_FOLDED_PARAMS, start=1):
        sql = sql.replace(f"%({name})s", f"${n}")
    assert "%(" not in sql, "a parameter of _FOLDED is missing from _FOLDED_PARAMS"
    types = ", ".join(t for _, t in _FOLDED_PARAMS)
    args = ", ".join(f"%({name})s" for name, _ in _FOLDED_PARAMS)
    return (
        f"PREPARE brightsync_intake ({types}) AS {sql}",
        f"EXECUTE brightsync_intake ({args})",
    )


_PREPARE, _EXECUTE = _prepared(_FOLDED)
_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name


def _sqlite(sql: str) -> str:
    """The pyformat statement in sqlite3's named style."""
    return sql.replace("%(", ":").replace(")s", "")


class Unavailable(Exception):
    """The database cannot be reached (the DB-API error is the cause; its class is the
    message): the webhook answers 503, as the app does for every database outage."""


class _Held:
    """One DB-API connection of this process's engine, held between requests (no pool
    checkout, no liveness probe per webhook), with SQLite's statements in its paramstyle."""

    def __init__(self) -> None:
        engine = get_engine()
        self.engine = engine
        self.pid = os.getpid()
        self.sqlite = engine.dialect.name == "sqlite"
        self.proxy = engine.raw_connection()  # the engine's connect hooks (pragmas) ran
        self.dbapi = self.proxy.driver_connection
        self.lock_fd: int | None = None
        self.prepared = False
        if self.sqlite:
            self.user, self.request, self.audit = (_sqlite(x) for x in (_USER, _REQUEST, _AUDIT))
            path = engine.url.database
            if fcntl is not None and path and path != ":memory:":
                self.lock_fd = os.open(f"{path}-intake.lock", os.O_RDWR | os.O_CREAT, 0o600)
        else:
            dbapi = engine.dialect.loaded_dbapi
            # _FOLDED is its own transaction (the pool's liveness probe may have opened one).
            # Detached: an autocommit connection must never go back to the pool for the ORM.
            self.proxy.detach()
            self.dbapi.rollback()
            self.dbapi.autocommit = True
            try:
                with self.dbapi.cursor() as cur:
                    cur.execute(_PREPARE)
                self.prepared = True
            except (dbapi.ProgrammingError, dbapi.NotSupportedError):
                pass  # a server or pooler refusing PREPARE: `prepared` stays off, plain statements

    def when(self, moment: datetime) -> Any:
        """A datetime as SQLAlchemy stores it: SQLite keeps naive UTC text."""
        if self.sqlite:
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def drop(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None
        try:
            if self.sqlite:
                self.proxy.invalidate()
            else:
                self.dbapi.close()  # detached: the pool no longer knows it
        except Exception:  # noqa: BLE001 - a dead connection may fail to close; it is gone
            pass


# One held connection per thread: threaded servers (the demo's, gthread workers) must not
# interleave two transactions on one connection.
_local = threading.local()


def _connection() -> _Held:
    held: _Held | None = getattr(_local, "held", None)
    if held is None or held.pid != os.getpid() or held.engine is not get_engine():
        if held is not None and held.pid == os.getpid():
            held.drop()  # the engine was replaced; a forked child leaves its parent's socket be
        held = _local.held = _Held()
    return held


def accept(note: dict[str, Any], digest: str, service: str | None) -> tuple[str, int | None]:
    """One transaction: (outcome, user id).

    outcome: "enqueued" (the caller publishes the run), "coalesced", "unknown account" or
    "not synced" (both audited as "ignored"). Raises Replay for a delivery seen before; the
    transaction is then rolled back, so a replay changes nothing. A connection that broke
    since the last request is replaced and the transaction tried once more (nothing of it
    committed).
    """
    for attempt in (1, 2):
        try:
            held = _connection()
        except Exception as exc:
            raise Unavailable(type(exc.__cause__ or exc).__name__) from exc
        try:
            return _transaction(held, note, digest, service)
        except Replay:
            raise
        except Exception as exc:
            broken = _is_disconnect(held, exc)
            if broken:
                held.drop()
                _local.held = None
            if broken and attempt == 2:
                raise Unavailable(type(exc).__name__) from exc
            if not broken:
                raise
    raise AssertionError("unreachable")


def _is_disconnect(held: _Held, exc: Exception) -> bool:
    dbapi = held.engine.dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return False
    return bool(held.engine.dialect.is_disconnect(exc, held.dbapi, None)) or isinstance(
        exc, dbapi.InterfaceError
    )


def _transaction(
    held: _Held, note: dict[str, Any], digest: str, service: str | None
) -> tuple[str, int | None]:
    now = utcnow()
    if held.sqlite:
        return _three_statements(held, note, digest, service, now)
    return _folded(held, note, digest, service, now)


def _three_statements(
    held: _Held, note: dict[str, Any], digest: str, service: str | None, now: datetime
) -> tuple[str, int | None]:
    """SQLite: three statements in one transaction, rolled back on a replay."""
    if held.lock_fd is None:
        return _in_transaction(held, note, digest, service, now)
    # Web processes queue here for the write lock: the kernel wakes the next one the moment
    # it is free, where SQLite's busy handler would poll with sleeps of 1 ms and more.
    fcntl.flock(held.lock_fd, fcntl.LOCK_EX)
    try:
        return _in_transaction(held, note, digest, service, now)
    finally:
        fcntl.flock(held.lock_fd, fcntl.LOCK_UN)


def _in_transaction(
    held: _Held, note: dict[str, Any], digest: str, service: str | None, now: datetime
) -> tuple[str, int | None]:
    conn = held.dbapi
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")  # the write lock now: no deadlock upgrading a read lock
    try:
        cur.execute(held.user, {"account": str(note["accountId"])})
        user = cur.fetchone()
        user_id = user[0] if user is not None else None
        if user is None:
            outcome, audited = "unknown account", "ignored"
        elif service is None or service not in (json.loads(user[1] or "null") or []):
            outcome, audited = "not synced", "ignored"
        else:
            params = {
                "user_id": user_id,
                "service": service,
                "now": held.when(now),
                "stale": held.when(now - scheduler.PENDING_STALE_AFTER),
            }
            cur.execute(held.request, params)
            outcome = audited = "enqueued" if cur.fetchone() is not None else "coalesced"
        row = {**audit_row(note, digest, audited, user_id), "received_at": held.when(now)}
        cur.execute(held.audit, row)
        if cur.fetchone() is None:
            raise Replay(digest)
        cur.execute("COMMIT")
    except BaseException:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - a broken connection is replaced by the caller
            pass
        raise
    finally:
        cur.close()
    return outcome, user_id


def _folded(
    held: _Held, note: dict[str, Any], digest: str, service: str | None, now: datetime
) -> tuple[str, int | None]:
    """PostgreSQL: the whole intake as one statement, its own transaction."""
    params = {
        **audit_row(note, digest, "", None),
        "account": str(note["accountId"]),
        "service": service,
        "now": now,
        "stale": now - scheduler.PENDING_STALE_AFTER,
        "received_at": now,
    }
    with held.dbapi.cursor() as cur:
        try:
            cur.execute(_EXECUTE if held.prepared else _FOLDED, params)
        except Exception as exc:
            if not held.prepared or getattr(exc, "pgcode", None) != _NO_SUCH_STATEMENT:
                raise
            # A pooler between us and the server (PgBouncer in transaction mode) moved us to
            # a server connection without it: plain statements from now on.
            held.prepared = False
            cur.execute(_FOLDED, params)
        user_id, wanted, requested, recorded = cur.fetchone()
    if not recorded:
        raise Replay(digest)
    if user_id is None:
        return "unknown account", None
    if not wanted:
        return "not synced", user_id
    return ("enqueued" if requested else "coalesced"), user_id


def unaccept(digest: str, user_id: int, service: str) -> None:
    """Undo an accepted notification whose run could not be published: Aurinko redelivers it
    and the redelivery must not look like a replay."""
    with get_engine().begin() as conn:
        conn.execute(delete(Notification).where(Notification.digest == digest))
    scheduler.cancel_request(user_id, service)
