"""The reference CRM's records: JSON documents in one SQLite table, with the lookup index and
the remembered Idempotency-Keys beside them.

Every record carries the two columns the contract needs besides its data: `modified_at` (for
`since` queries, kept as fixed-width UTC text so it sorts) and `deleted_at` (deletions are
tombstones, listed by deleted*).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from brightsync.connector.schemas import MODIFIED_TRACKED
from brightsync.sandbox.crm.errors import BadRequest

# The prefix of the ids this connector gives new records, per collection.
ID_PREFIX = {
    "contacts": "ct",
    "companies": "co",
    "opportunities": "op",
    "emails": "em",
    "events": "ev",
    "calendars": "ca",
    "tasks": "tk",
    "users": "us",
    "leads": "ld",
}


def stamp(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 (sorts as text): 2024-05-01T10:00:00.000000+00:00."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _texts(values: Any) -> list[str]:
    return [v for v in values or [] if isinstance(v, str)]


# The keys each lookup endpoint finds records by, indexed as a real CRM indexes them, so a
# lookup's cost does not grow with the CRM (benchmarks with many contacts measure BrightSync,
# not a scan here). Matching stays exactly what the lookup endpoints define.
LOOKUP_KEYS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "contacts": lambda r: [a.lower() for a in _texts(r.get("emailAddresses"))],
    "leads": lambda r: [a.lower() for a in _texts(r.get("emailAddresses"))],
    "emails": lambda r: [r["rfc822MsgId"]] if isinstance(r.get("rfc822MsgId"), str) else [],
    "companies": lambda r: (
        [f"domain:{d.lower()}" for d in _texts(r.get("domains"))]
        + [f"name:{(r.get('name') or '').lower()}"]
    ),
    "opportunities": lambda r: (
        [f"company:{r.get('companyId')}"] + [f"contact:{c}" for c in r.get("contactIds") or []]
    ),
}


class Store:
    """Records as JSON documents in one SQLite table; one connection behind a lock.

    `path=None` keeps the database in memory (private to this app, shared by the threaded
    server's threads through the single connection).
    """

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,          -- contacts, companies, emails, ...
        id TEXT NOT NULL,
        data TEXT NOT NULL,          -- the record as the API returns it (JSON)
        modified_at TEXT NOT NULL,   -- = lastModifiedAt, fixed-width UTC text
        deleted_at TEXT,             -- set by DELETE; the row stays as a tombstone
        UNIQUE (kind, id)
    );
    CREATE INDEX IF NOT EXISTS records_modified ON records (kind, modified_at);
    CREATE INDEX IF NOT EXISTS records_deleted ON records (kind, deleted_at);
    CREATE TABLE IF NOT EXISTS lookup_keys (  -- what a real CRM indexes its lookups by
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        id TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS lookup_keys_key ON lookup_keys (kind, key);
    CREATE INDEX IF NOT EXISTS lookup_keys_id ON lookup_keys (kind, id);
    CREATE TABLE IF NOT EXISTS files (  -- attachment bytes, listed by id in their email
        id TEXT PRIMARY KEY,
        content_type TEXT,
        data BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS idempotency (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        id TEXT NOT NULL,            -- the record the first request with this key created
        used_at TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """

    def __init__(self, path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self.db.isolation_level = None  # autocommit; every method is one statement or locked
        self.db.executescript(self.SCHEMA)
        if self.db.execute("SELECT 1 FROM lookup_keys LIMIT 1").fetchone() is None:
            # A store file written before the lookup index: index what it holds.
            for kind, data in self.db.execute("SELECT kind, data FROM records").fetchall():
                self._index(kind, json.loads(data))
        self._last = datetime.now(UTC)

    def now(self) -> str:
        """A modification time later than every earlier one (so `since` is unambiguous)."""
        with self.lock:
            now = datetime.now(UTC)
            self._last = max(now, self._last + timedelta(microseconds=1))
            return stamp(self._last)

    def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(row[0]) for row in self.db.execute(sql, args)]

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT data FROM records WHERE kind=? AND id=? AND deleted_at IS NULL",
            kind,
            str(record_id),
        )
        return rows[0] if rows else None

    def live(self, kind: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT data FROM records WHERE kind=? AND deleted_at IS NULL ORDER BY seq", kind
        )

    def by_keys(self, kind: str, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Live records of `kind` holding any of `keys` (see LOOKUP_KEYS), in creation order."""
        wanted = sorted(set(keys))
        found: dict[int, dict[str, Any]] = {}
        with self.lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    "SELECT r.seq, r.data FROM records r JOIN lookup_keys k "
                    "ON k.kind = r.kind AND k.id = r.id "
                    f"WHERE r.kind=? AND r.deleted_at IS NULL AND k.key IN ({marks})",
                    (kind, *chunk),
                )
                for seq, data in rows:
                    found.setdefault(seq, json.loads(data))
        return [found[seq] for seq in sorted(found)]

    def _index(self, kind: str, record: dict[str, Any]) -> None:
        keys = LOOKUP_KEYS.get(kind)
        if keys is None:
            return
        record_id = str(record["id"])
        self.db.execute("DELETE FROM lookup_keys WHERE kind=? AND id=?", (kind, record_id))
        self.db.executemany(
            "INSERT INTO lookup_keys (kind, key, id) VALUES (?, ?, ?)",
            [(kind, str(key), record_id) for key in dict.fromkeys(keys(record))],
        )

    def changed(self, kind: str, since: str | None, *, inclusive: bool) -> list[dict[str, Any]]:
        """Live records modified at or after `since` (oldest change first)."""
        if since is None:
            return self.live(kind)
        op = ">=" if inclusive else ">"
        return self._rows(
            f"SELECT data FROM records WHERE kind=? AND deleted_at IS NULL "
            f"AND modified_at {op} ? ORDER BY modified_at, seq",
            kind,
            since,
        )

    def deleted_entries(self, kind: str, since: str, *, inclusive: bool) -> list[dict[str, Any]]:
        """Records deleted at or after `since` as a list with `showDeleted=true` shows them."""
        return [
            {"id": d["id"], "deleted": True, "lastModifiedAt": d["deletedAt"]}
            for d in self.deleted(kind, since, inclusive=inclusive)
        ]

    def deleted(self, kind: str, since: str, *, inclusive: bool) -> list[dict[str, Any]]:
        op = ">=" if inclusive else ">"
        with self.lock:
            rows = self.db.execute(
                f"SELECT id, deleted_at FROM records WHERE kind=? AND deleted_at {op} ? "
                "ORDER BY deleted_at, seq",
                (kind, since),
            ).fetchall()
        return [{"id": row[0], "deletedAt": row[1]} for row in rows]

    def _exists(self, kind: str, record_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM records WHERE kind=? AND id=?", (kind, record_id))
        return row.fetchone() is not None

    def insert(
        self, kind: str, record: dict[str, Any], *, modified_at: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            modified_at = modified_at or self.now()
            if record.get("id") in (None, ""):
                (n,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()
                while self._exists(kind, f"{ID_PREFIX[kind]}_{n}"):
                    n += 1
                record = {"id": f"{ID_PREFIX[kind]}_{n}", **record}
            elif self._exists(kind, str(record["id"])):
                raise BadRequest(f"{kind} {record['id']} exists already")
            if kind in MODIFIED_TRACKED or "lastModifiedAt" in record:
                record["lastModifiedAt"] = modified_at
            self.db.execute(
                "INSERT INTO records (kind, id, data, modified_at) VALUES (?, ?, ?, ?)",
                (kind, str(record["id"]), json.dumps(record), modified_at),
            )
            self._index(kind, record)
            return record

    def save(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            modified_at = self.now()
            if kind in MODIFIED_TRACKED or "lastModifiedAt" in record:
                record["lastModifiedAt"] = modified_at
            self.db.execute(
                "UPDATE records SET data=?, modified_at=? WHERE kind=? AND id=?",
                (json.dumps(record), modified_at, kind, str(record["id"])),
            )
            self._index(kind, record)
            return record

    def delete(self, kind: str, record_id: str) -> bool:
        with self.lock:
            cursor = self.db.execute(
                "UPDATE records SET deleted_at=? WHERE kind=? AND id=? AND deleted_at IS NULL",
                (self.now(), kind, str(record_id)),
            )
            return cursor.rowcount == 1

    def dump(self, kind: str, *, with_deleted: bool = False) -> list[dict[str, Any]]:
        if not with_deleted:
            return self.live(kind)
        return self._rows("SELECT data FROM records WHERE kind=? ORDER BY seq", kind)

    def remembered(self, kind: str, key: str, window: timedelta) -> str | None:
        """The id created under this Idempotency-Key within the window, if any."""
        row = self.db.execute(
            "SELECT id FROM idempotency WHERE kind=? AND key=? AND used_at>=?",
            (kind, key, stamp(datetime.now(UTC) - window)),
        ).fetchone()
        return row[0] if row else None

    def remember(self, kind: str, key: str, record_id: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO idempotency (kind, key, id, used_at) VALUES (?, ?, ?, ?)",
            (kind, key, str(record_id), stamp(datetime.now(UTC))),
        )

    def put_file(self, data: bytes, content_type: str | None) -> str:
        """Keep an attachment's bytes; its new id."""
        with self.lock:
            (n,) = self.db.execute("SELECT COUNT(*) + 1 FROM files").fetchone()
            while self.db.execute("SELECT 1 FROM files WHERE id=?", (f"at_{n}",)).fetchone():
                n += 1
            self.db.execute(
                "INSERT INTO files (id, content_type, data) VALUES (?, ?, ?)",
                (f"at_{n}", content_type, data),
            )
            return f"at_{n}"

    def file(self, file_id: str) -> tuple[bytes, str | None] | None:
        with self.lock:
            row = self.db.execute(
                "SELECT data, content_type FROM files WHERE id=?", (file_id,)
            ).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    def clear(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM files")
            self.db.execute("DELETE FROM records")
            self.db.execute("DELETE FROM lookup_keys")
            self.db.execute("DELETE FROM idempotency")
