"""The reference CRM connector: the whole contract of shared/spec/crm-connector.md on SQLite.

Run it with `brightsync sandbox crm --port 5002` (or `create_crm_app()` in a test). It is also
the example a platform provider reads before building its own connector, so it stays small:

* every record is a JSON document in one SQLite table (`records`), with the two columns the
  contract needs besides the data: `modified_at` (for `since` queries, kept as fixed-width UTC
  text so it sorts) and `deleted_at` (deletions are tombstones, listed by deleted*);
* request bodies are validated with the contract's marshmallow schemas (400 + field errors);
* lookups return plain arrays; lists page with `limit` + `pageToken` and answer
  `{"records": [...], "nextPageToken": "..." | null}` (pass `paging="offset"` to page with
  `limit` + `offset` and plain arrays instead; BrightSync's client handles both);
* `since` is inclusive; `lastModifiedAt` is set here on every write, strictly increasing.

* a create carrying an `Idempotency-Key` header is remembered for IDEMPOTENCY_WINDOW: the same
  key again (same collection) answers the original record instead of making another one.

Test hooks live under `/_control` (no auth): reset, stats per operation and method, injected
faults (before the request is handled, or after it: a write that stores the record and then
answers 502, or never answers in time), bulk seeding, settings (`latencyMs`: every API answer
held that long, like a real CRM across a network; kept over a reset). `breakages` switches
on deliberate contract violations, so `brightsync connector check` can be shown to catch each
one (see BREAKAGES).
"""

from __future__ import annotations

import base64
import hmac
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import click
import requests
from flask import Flask, Response, g, jsonify, request
from marshmallow import ValidationError, fields
from werkzeug.exceptions import HTTPException

from brightsync.connector.contract import OPERATIONS
from brightsync.connector.openapi import connector_openapi
from brightsync.connector.schemas import (
    MODIFIED_TRACKED,
    SCHEMAS,
    error_messages,
    must_carry,
    strict_schema,
)
from brightsync.sandbox.server import MAX_LATENCY_MS, checked_latency, network_latency

DEFAULT_TOKEN = "sandbox-crm-token"

#: Deliberate contract violations, for the conformance checker's tests.
BREAKAGES: dict[str, str] = {
    "no_auth": "accepts any credentials, or none",
    "missing_id_on_create": "POST responses carry no id",
    "no_email_lookup": "GET /emails?rfc822MsgId= is not offered (405)",
    "email_lookup_ignores_filter": "GET /emails?rfc822MsgId= returns every email",
    "create_not_idempotent_lookup": "rfc822MsgId is not stored, so look-before-create never "
    "finds the email",
    "no_email_update": "emails cannot be changed (PATCH and PUT answer 405)",
    "no_patch": "PATCH answers 405 everywhere; PUT still works for emails and events",
    "contact_lookup_case_sensitive": "contacts lookup compares addresses case-sensitively",
    "wrong_field_types": "contacts carry emailAddresses as a comma-joined string",
    "since_exclusive": "`since` is exclusive (> instead of >=)",
    "no_contact_write": "contacts are read-only: no POST, PATCH or DELETE",
    "no_contacts_since": "GET /contacts?since= is not offered",
    "no_deleted_contacts": "GET /deletedContacts is not offered (404)",
    "deleted_contacts_empty": "GET /deletedContacts never lists anything",
    "no_companies": "no company endpoints",
    "no_opportunities": "no opportunity lookup",
    "no_users": "no user endpoints",
    "no_events": "no calendar endpoints",
    "no_tasks": "no task endpoints",
    "no_options": "OPTIONS answers 405 without Allow (clients must probe otherwise)",
    "ignores_idempotency_key": "the Idempotency-Key header is ignored: a repeated create makes "
    "another record",
}

#: How long a create's Idempotency-Key is remembered.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
#: The longest an injected fault may hold a request (a "never answers" fault ends by then).
MAX_FAULT_DELAY = 120.0

# A connector offering little more than the two required operations (it can also load
# emails and contacts by id).
MINIMAL = frozenset(
    {
        "no_email_lookup",
        "no_email_update",
        "no_contact_write",
        "no_contacts_since",
        "no_deleted_contacts",
        "no_companies",
        "no_opportunities",
        "no_users",
        "no_events",
        "no_tasks",
    }
)

# Operations (openapi.CONTRACT ids) that a breakage removes.
_REMOVES: dict[str, set[str]] = {
    "no_email_lookup": {"emails.lookup"},
    "no_email_update": {"emails.update", "emails.replace"},
    "no_patch": {op.id for op in OPERATIONS.values() if op.method == "patch"},
    "no_contact_write": {"contacts.create", "contacts.update", "contacts.delete"},
    "no_contacts_since": {"contacts.list"},
    "no_deleted_contacts": {"contacts.deleted"},
    "no_companies": {op for op in OPERATIONS if op.startswith("companies.")},
    "no_opportunities": {"opportunities.lookup"},
    "no_users": {"users.me", "users.lookup"},
    "no_events": {op for op in OPERATIONS if op.startswith("events.")},
    "no_tasks": {op for op in OPERATIONS if op.startswith("tasks.")},
}

NOUN = {
    "contacts": "contact",
    "companies": "company",
    "opportunities": "opportunity",
    "emails": "email",
    "events": "event",
    "tasks": "task",
    "users": "user",
}
View = Callable[..., Any]

_ID_PREFIX = {
    "contacts": "ct",
    "companies": "co",
    "opportunities": "op",
    "emails": "em",
    "events": "ev",
    "tasks": "tk",
    "users": "us",
}

DEFAULT_USER = {
    "name": "Sandbox Admin",
    "email": "admin@sandbox-crm.example",
    "orgId": "org_1",
    "timezone": "UTC",
}


class BadRequest(Exception):
    """Answered 400 with `message` (and per-field errors when validation failed)."""

    def __init__(self, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class NotFound(HTTPException):
    code = 404
    name = "Not Found"


def stamp(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 (sorts as text): 2024-05-01T10:00:00.000000+00:00."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def parse_instant(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        hint = " (a '+' in a query string must be sent as %2B)" if " " in value else ""
        raise BadRequest(f"{name} is not an ISO 8601 timestamp: {value!r}{hint}") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} needs an offset, e.g. {value}Z or {value}+02:00")
    return parsed


# --------------------------------------------------------------------------- storage


def _texts(values: Any) -> list[str]:
    return [v for v in values or [] if isinstance(v, str)]


# The keys each lookup endpoint finds records by, indexed as a real CRM indexes them, so a
# lookup's cost does not grow with the CRM (benchmarks with many contacts measure BrightSync,
# not a scan here). Matching stays exactly what the endpoints define below.
LOOKUP_KEYS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "contacts": lambda r: [a.lower() for a in _texts(r.get("emailAddresses"))],
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
                while self._exists(kind, f"{_ID_PREFIX[kind]}_{n}"):
                    n += 1
                record = {"id": f"{_ID_PREFIX[kind]}_{n}", **record}
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

    def clear(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM records")
            self.db.execute("DELETE FROM lookup_keys")
            self.db.execute("DELETE FROM idempotency")


# --------------------------------------------------------------------------- test hooks


@dataclass
class Fault:
    """An injected failure: the next `count` matching requests get `status` (None: all).

    With `after_write` the request is handled first (a create stores its record) and only
    then is its answer replaced by `status`, or held for `delay` seconds — past the client's
    read timeout, a lost answer — before it is sent.
    """

    path: str
    method: str | None
    status: int | None
    count: int | None
    retry_after: str | None
    delay: float
    message: str | None
    match: str | None = None  # only requests whose query or body contains this text
    after_write: bool = False

    def matches(self) -> bool:
        return (
            (self.count is None or self.count > 0)
            and request.path.startswith(self.path)
            and self.method in (None, request.method)
            and (self.match is None or self.match in _request_text())
        )


def _request_text() -> str:
    """The decoded query string and body of the current request (for `match` faults)."""
    query = unquote_plus(request.query_string.decode("utf-8", "replace"))
    return query + "\n" + request.get_data(as_text=True)


class Control:
    """Stats, faults and settings shared by the request handlers of one app."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.latency_ms = checked_latency(latency_ms)
        self.total = 0
        self.by_operation: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_method: Counter[str] = Counter()
        self.faults: list[Fault] = []

    def count(self, operation: str, method: str = "GET") -> None:
        with self.lock:
            self.total += 1
            self.by_operation[operation] += 1
            self.by_method[method] += 1

    def count_status(self, status: int) -> None:
        with self.lock:
            self.by_status[str(status)] += 1

    def clear_stats(self) -> None:
        with self.lock:
            self.total = 0
            self.by_operation.clear()
            self.by_status.clear()
            self.by_method.clear()

    def stats(self) -> dict[str, Any]:
        """`{total, byOperation: {"contacts.lookup": 2, ...}, byStatus: {"200": 3, ...},
        byMethod: {"GET": 4, "POST": 1}}`."""
        with self.lock:
            return {
                "total": self.total,
                "byOperation": dict(sorted(self.by_operation.items())),
                "byStatus": dict(sorted(self.by_status.items())),
                "byMethod": dict(sorted(self.by_method.items())),
            }

    def take_fault(self) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches():
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self.faults.remove(fault)
                    return fault
        return None


# --------------------------------------------------------------------------- the app


def create_crm_app(
    *,
    db_path: str | None = None,
    token: str | None = DEFAULT_TOKEN,
    basic: tuple[str, str] | None = None,
    breakages: frozenset[str] = frozenset(),
    paging: str = "token",
    omit_nulls: bool = False,
    latency_ms: float = 0.0,
) -> Flask:
    """The reference connector as a Flask app.

    Credentials: `Authorization: Bearer <token>`, or HTTP Basic `basic=(user, password)`; with
    both None the API is open. `paging` is "token" (default) or "offset". `omit_nulls`
    leaves empty optional fields out of answers (e.g. a contact without a company carries
    no `companyId`), which the contract allows. `latency_ms` holds every API answer that long
    (also `POST /_control/settings {"latencyMs": 50}`), as a real CRM across a network does.
    """
    unknown = set(breakages) - set(BREAKAGES)
    if unknown:
        raise ValueError(f"unknown breakages {sorted(unknown)}; known: {sorted(BREAKAGES)}")
    if paging not in ("token", "offset"):
        raise ValueError("paging is 'token' or 'offset'")
    broken = frozenset(breakages)
    removed = set().union(*(_REMOVES.get(b, set()) for b in broken))

    store = Store(db_path)
    control = Control(latency_ms)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["brightsync_crm"] = {"store": store, "control": control}

    def reset() -> None:
        store.clear()
        store.insert("users", dict(DEFAULT_USER))

    if not store.live("users"):
        reset()

    # ---- helpers every handler uses

    def operation(op_id: str) -> Callable[[View], View]:
        """Register a handler for one operation of the contract (unless a breakage removes it)."""

        def register(view: View) -> View:
            if op_id not in removed:
                op = OPERATIONS[op_id]
                path = op.path.replace("{id}", "<record_id>")
                app.add_url_rule(path, op_id, view, methods=[op.method.upper()])
            return view

        return register

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data

    def validate(kind: str, data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Check a body against the contract's schema; return it in its JSON form."""
        schema = strict_schema(SCHEMAS[kind])
        try:
            loaded = schema.load(data, partial=partial)
        except ValidationError as exc:
            detail = "; ".join(error_messages(exc.messages))
            raise BadRequest(f"invalid {NOUN[kind]}: {detail}", exc.messages) from None
        dumped = SCHEMAS[kind]().dump(loaded)
        # Set by the connector, never by the caller.
        dumped.pop("id", None)
        dumped.pop("lastModifiedAt", None)
        return dumped

    def blank(kind: str) -> dict[str, Any]:
        """Every field of the object, empty: responses always carry the full shape."""
        out: dict[str, Any] = {}
        for name, field in SCHEMAS[kind]().fields.items():
            if name not in ("id", "lastModifiedAt"):
                out[name] = [] if isinstance(field, fields.List) else None
        return out

    def csv(name: str, *, required: bool = True) -> list[str]:
        values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",")]
        values = [v for v in values if v]
        if required and not values:
            raise BadRequest(f"query parameter {name} is required")
        return values

    def since_param(required: bool = False) -> str | None:
        raw = request.args.get("since")
        if not raw:
            if required:
                raise BadRequest("query parameter since is required")
            return None
        return stamp(parse_instant(raw, "since"))

    def out(kind: str, record: dict[str, Any]) -> dict[str, Any]:
        if omit_nulls and kind in SCHEMAS:
            keep = set(must_carry(SCHEMAS[kind]))
            record = {k: v for k, v in record.items() if v is not None or k in keep}
        if "wrong_field_types" in broken and kind == "contacts":
            record = {**record, "emailAddresses": ", ".join(record.get("emailAddresses") or [])}
        return record

    def page(kind: str, records: list[dict[str, Any]]) -> Response:
        """One page of a list, in this connector's paging style."""
        try:
            limit = min(500, max(1, int(request.args.get("limit", 100))))
            if paging == "offset":
                start = max(0, int(request.args.get("offset", 0)))
            else:
                token = request.args.get("pageToken")
                start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except (ValueError, TypeError):
            raise BadRequest("limit, offset or pageToken is not valid") from None
        chunk = [out(kind, r) for r in records[start : start + limit]]
        if paging == "offset":
            return jsonify(chunk)
        more = start + limit < len(records)
        token = base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
        return jsonify({"records": chunk, "nextPageToken": token})

    def found(kind: str, record_id: str) -> dict[str, Any]:
        record = store.get(kind, record_id)
        if record is None:
            raise NotFound(f"no {NOUN[kind]} {record_id}")
        return record

    # ---- generic handlers (one set per resource)

    def get_one(kind: str) -> View:
        def view(record_id: str) -> Any:
            return out(kind, found(kind, record_id))

        return view

    def create(kind: str) -> View:
        def view() -> Any:
            record = {**blank(kind), **validate(kind, body())}
            if kind == "emails" and "create_not_idempotent_lookup" in broken:
                record["rfc822MsgId"] = None
            key = (request.headers.get("Idempotency-Key") or "").strip()[:255]
            honour = bool(key) and "ignores_idempotency_key" not in broken
            replayed = False
            with store.lock:  # the same key twice at once still makes one record
                known = store.remembered(kind, key, IDEMPOTENCY_WINDOW) if honour else None
                existing = store.get(kind, known) if known is not None else None
                if existing is not None:
                    stored, replayed = existing, True
                else:
                    stored = store.insert(kind, record)
                    if honour:
                        store.remember(kind, key, stored["id"])
            saved = dict(out(kind, stored))
            if "missing_id_on_create" in broken:
                saved.pop("id")
            response = jsonify(saved)
            response.status_code = 201
            if replayed:
                response.headers["Idempotent-Replayed"] = "true"
            return response

        return view

    def update(kind: str, *, replace: bool = False) -> View:
        def view(record_id: str) -> Any:
            changes = validate(kind, body(), partial=not replace)
            with store.lock:  # read-modify-write: no concurrent change gets lost
                existing = found(kind, record_id)
                base = blank(kind) if replace else existing
                record = {**base, **changes, "id": existing["id"]}
                return out(kind, store.save(kind, record))

        return view

    def delete(kind: str) -> View:
        def view(record_id: str) -> Any:
            if not store.delete(kind, record_id):
                raise NotFound(f"no {NOUN[kind]} {record_id}")
            return "", 204

        return view

    def changed(kind: str) -> View:
        def view() -> Any:
            records = store.changed(kind, since_param(), inclusive="since_exclusive" not in broken)
            return page(kind, records)

        return view

    def deleted(kind: str) -> View:
        def view() -> Any:
            since = since_param(required=True)
            assert since is not None
            if kind == "contacts" and "deleted_contacts_empty" in broken:
                return page("deleted", [])
            records = store.deleted(kind, since, inclusive="since_exclusive" not in broken)
            return page("deleted", records)

        return view

    for kind in ("emails", "contacts", "companies", "events", "tasks"):
        operation(f"{kind}.get")(get_one(kind))
        operation(f"{kind}.create")(create(kind))
    for kind in ("emails", "contacts", "events", "tasks"):
        operation(f"{kind}.update")(update(kind))
    for kind in ("emails", "events"):
        operation(f"{kind}.replace")(update(kind, replace=True))
    for kind in ("contacts", "events", "tasks"):
        operation(f"{kind}.delete")(delete(kind))
        operation(f"{kind}.deleted")(deleted(kind))
    operation("contacts.list")(changed("contacts"))
    operation("tasks.list")(changed("tasks"))

    # ---- the lookups and the calendar window: the interesting part of a connector

    @operation("contacts.lookup")
    def contacts_lookup() -> Any:
        # Addresses are matched case-insensitively against every address of a contact.
        if "contact_lookup_case_sensitive" in broken:
            wanted = set(csv("emails"))
            return [
                out("contacts", c)
                for c in store.live("contacts")
                if any(a in wanted for a in c.get("emailAddresses") or [])
            ]
        return [
            out("contacts", c) for c in store.by_keys("contacts", map(str.lower, csv("emails")))
        ]

    @operation("emails.lookup")
    def emails_lookup() -> Any:
        msg_id = request.args.get("rfc822MsgId")
        if not msg_id:
            raise BadRequest("query parameter rfc822MsgId is required")
        if "email_lookup_ignores_filter" in broken:
            return store.live("emails")
        return store.by_keys("emails", [msg_id])

    @operation("companies.lookup")
    def companies_lookup() -> Any:
        domain = (request.args.get("domain") or "").strip().lower()
        name = (request.args.get("name") or "").strip().lower()
        if not domain and not name:
            raise BadRequest("pass domain or name")
        keys = [f"domain:{domain}"] if domain else [f"name:{name}"]
        return [
            c
            for c in store.by_keys("companies", keys)
            if (not domain or domain in [d.lower() for d in c.get("domains") or []])
            and (not name or (c.get("name") or "").lower() == name)
        ]

    @operation("opportunities.lookup")
    def opportunities_lookup() -> Any:
        contacts = set(csv("contactIds", required=False))
        companies = set(csv("companyIds", required=False))
        if not contacts and not companies:
            raise BadRequest("pass contactIds or companyIds")
        keys = [f"company:{c}" for c in companies] + [f"contact:{c}" for c in contacts]
        return store.by_keys("opportunities", keys)

    @operation("events.list")
    def events_list() -> Any:
        events = store.changed("events", since_param(), inclusive="since_exclusive" not in broken)
        start_at, end_at = request.args.get("startAt"), request.args.get("endAt")
        if start_at or end_at:
            # Events overlapping the window [startAt, endAt), ordered by start.
            lo = parse_instant(start_at, "startAt") if start_at else None
            hi = parse_instant(end_at, "endAt") if end_at else None
            events = [
                e
                for e in events
                if (lo is None or datetime.fromisoformat(e["endTime"]) > lo)
                and (hi is None or datetime.fromisoformat(e["startTime"]) < hi)
            ]
            events.sort(key=lambda e: datetime.fromisoformat(e["startTime"]))
        return page("events", events)

    @operation("users.me")
    def users_me() -> Any:
        users = store.live("users")
        if not users:
            raise NotFound("no users")
        return users[0]

    @operation("users.lookup")
    def users_lookup() -> Any:
        wanted = {e.lower() for e in csv("emails")}
        return [u for u in store.live("users") if (u.get("email") or "").lower() in wanted]

    @app.get("/openapi.json")
    def openapi() -> Any:
        return connector_openapi()

    # ---- every API request: count it, maybe fail it on purpose, then check credentials

    def authorised() -> bool:
        if "no_auth" in broken or (token is None and basic is None):
            return True
        header = request.headers.get("Authorization", "")
        if token is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
            return True
        auth = request.authorization
        if basic is not None and auth is not None and auth.type == "basic":
            return hmac.compare_digest(
                f"{auth.username}:{auth.password}".encode(), f"{basic[0]}:{basic[1]}".encode()
            )
        return False

    @app.before_request
    def gate() -> Any:
        if not request.path.startswith("/api/"):
            return None
        if request.method == "OPTIONS":
            control.count("options", "OPTIONS")
        else:
            control.count(request.endpoint or "unrouted", request.method)
        network_latency(control.latency_ms)  # outside the lock: concurrent requests overlap
        if request.method == "OPTIONS" and "no_options" in broken:
            return {"error": "method_not_allowed", "message": "no OPTIONS here"}, 405
        fault = control.take_fault()
        if fault is not None and fault.after_write:
            g.after_write_fault = fault  # handled first; its answer is spoilt afterwards
        elif fault is not None:
            if fault.delay:
                time.sleep(min(fault.delay, MAX_FAULT_DELAY))
            if fault.status:
                message = fault.message or f"injected fault: {fault.status}"
                response = jsonify({"error": "injected", "message": message})
                response.status_code = fault.status
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = fault.retry_after
                return response
        if not authorised():
            response = jsonify({"error": "unauthorized", "message": "missing or wrong credentials"})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="crm"' if token else "Basic"
            return response
        return None

    @app.after_request
    def count_status(response: Response) -> Response:
        fault: Fault | None = g.pop("after_write_fault", None)
        if fault is not None:
            # The work is done (a create is stored): now the answer is lost on the way.
            if fault.delay:
                time.sleep(min(fault.delay, MAX_FAULT_DELAY))
            if fault.status:
                message = fault.message or f"injected fault after the write: {fault.status}"
                response = jsonify({"error": "injected", "message": message})
                response.status_code = fault.status
        if request.path.startswith("/api/"):
            control.count_status(response.status_code)
        return response

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Any:
        payload: dict[str, Any] = {"error": "invalid", "message": exc.message}
        if exc.errors is not None:
            payload["fields"] = exc.errors
        return payload, 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # JSON for every error, keeping headers such as Allow on a 405.
        response = exc.get_response()
        # Our own NotFound says which record; werkzeug's descriptions are long-winded.
        message = exc.description if isinstance(exc, NotFound) else exc.name
        response.data = json.dumps(
            {"error": (exc.name or "error").lower().replace(" ", "_"), "message": message}
        ).encode()
        response.content_type = "application/json"
        return response

    # ---- /_control: test hooks, no auth, not counted

    @app.post("/_control/reset")
    def control_reset() -> Any:
        reset()
        control.clear_stats()
        with control.lock:
            control.faults.clear()
        return {"ok": True}

    @app.get("/_control/stats")
    def control_stats() -> Any:
        return control.stats()

    @app.post("/_control/stats/reset")
    def control_stats_reset() -> Any:
        control.clear_stats()
        return {"ok": True}

    @app.route("/_control/faults", methods=["GET", "POST", "DELETE"])
    def control_faults() -> Any:
        if request.method == "DELETE":
            with control.lock:
                control.faults.clear()
            return {"ok": True}
        if request.method == "POST":
            spec = body()
            retry_after = spec.get("retryAfter")
            count = 1 if spec.get("count") is None else int(spec["count"])
            fault = Fault(
                path=str(spec.get("path") or "/api/"),
                method=(spec.get("method") or "").upper() or None,
                status=int(spec["status"]) if spec.get("status") else None,
                count=count if count > 0 else None,  # 0 or less: until DELETE
                retry_after=None if retry_after is None else str(retry_after),
                delay=min(float(spec.get("delaySeconds") or 0), MAX_FAULT_DELAY),
                message=spec.get("message"),
                match=str(spec["match"]) if spec.get("match") else None,
                after_write=bool(spec.get("afterWrite")),
            )
            with control.lock:
                control.faults.append(fault)
        with control.lock:
            return {"faults": [vars(f) for f in control.faults]}

    @app.route("/_control/settings", methods=["GET", "POST"])
    def control_settings() -> Any:
        """`{"latencyMs": 50}`: every API answer waits that long from now on."""
        if request.method == "POST":
            spec = body()
            unknown = set(spec) - {"latencyMs"}
            if unknown:
                raise BadRequest(f"unknown settings {sorted(unknown)}; known: ['latencyMs']")
            if "latencyMs" in spec:
                try:
                    latency = checked_latency(spec["latencyMs"])
                except (TypeError, ValueError):
                    raise BadRequest(
                        f"latencyMs must be a number from 0 to {MAX_LATENCY_MS:g}"
                    ) from None
                with control.lock:
                    control.latency_ms = latency
        with control.lock:
            return {"latencyMs": control.latency_ms}

    @app.post("/_control/seed")
    def control_seed() -> Any:
        """Bulk insert {contacts:[], companies:[], opportunities:[], users:[], ...}.

        Records may carry their own `id` and `lastModifiedAt`; the answer lists what was stored.
        """
        data = body()
        unknown_kinds = set(data) - set(SCHEMAS)
        if unknown_kinds:
            raise BadRequest(f"unknown collections {sorted(unknown_kinds)}")
        stored: dict[str, list[dict[str, Any]]] = {}
        for kind, records in data.items():
            for raw in records or []:
                given_id = raw.get("id") if isinstance(raw, dict) else None
                modified = raw.get("lastModifiedAt") if isinstance(raw, dict) else None
                record = {**blank(kind), **validate(kind, raw)}
                if given_id not in (None, ""):
                    record["id"] = str(given_id)
                when = stamp(parse_instant(modified, "lastModifiedAt")) if modified else None
                if kind == "opportunities":
                    record["lastModifiedAt"] = when
                stored.setdefault(kind, []).append(store.insert(kind, record, modified_at=when))
        return stored

    @app.get("/_control/records/<kind>")
    def control_records(kind: str) -> Any:
        """Everything stored of one kind (`?deleted=1` includes tombstones)."""
        if kind not in SCHEMAS:
            raise NotFound(f"no collection {kind}")
        return store.dump(kind, with_deleted=request.args.get("deleted") in ("1", "true"))

    return app


# --------------------------------------------------------------------------- for tests and demos


class CrmSandbox:
    """The reference CRM on a background thread, with its control API as methods.

    `with CrmSandbox(breakages=frozenset({"no_patch"})) as crm: crm.url, crm.stats()`.
    """

    def __init__(self, **app_kwargs: Any) -> None:
        from brightsync.sandbox.server import ServerThread

        self.token: str | None = app_kwargs.get("token", DEFAULT_TOKEN)
        self.app = create_crm_app(**app_kwargs)
        self.server = ServerThread(self.app)
        self.url = self.server.url
        self.http = requests.Session()

    def start(self) -> CrmSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.http.close()

    def __enter__(self) -> CrmSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.url}/_control/{path}", json=payload, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._control("POST", "reset")

    def stats(self) -> dict[str, Any]:
        """`{total, byOperation, byStatus}` (see `ops()` for the operation counts)."""
        return self._control("GET", "stats")

    def ops(self) -> dict[str, int]:
        """Calls per operation since the last reset, plus "total"."""
        stats = self.stats()
        return {"total": stats["total"], **stats["byOperation"]}

    def reset_stats(self) -> None:
        self._control("POST", "stats/reset")

    def fault(
        self,
        path: str = "/api/",
        status: int | None = 503,
        *,
        count: int = 1,
        method: str | None = None,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        message: str | None = None,
        match: str | None = None,
        after_write: bool = False,
    ) -> None:
        """Fail the next `count` matching requests (0: until cleared).

        `after_write=True`: handle the request first (a create stores its record), then
        answer `status` instead (a lost 502), or, with `status=None` and `delay`, answer
        only after `delay` seconds (past the client's read timeout: no answer at all).
        """
        self._control(
            "POST",
            "faults",
            {
                "path": path,
                "status": status,
                "count": count,
                "method": method,
                "retryAfter": retry_after,
                "delaySeconds": delay,
                "message": message,
                "match": match,
                "afterWrite": after_write,
            },
        )

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def settings(self, **values: Any) -> dict[str, Any]:
        """Change settings (`latencyMs=50`: every API answer held 50 ms); the current ones."""
        return self._control("POST", "settings", values)

    def seed(self, **collections: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        return self._control("POST", "seed", collections)

    def records(self, kind: str, *, deleted: bool = False) -> list[dict[str, Any]]:
        return self._control("GET", f"records/{kind}" + ("?deleted=1" if deleted else ""))


# --------------------------------------------------------------------------- command line


@click.command("crm")
@click.option("--port", default=8002, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--db", "db_path", default=None, help="SQLite file (default: in memory)")
@click.option("--token", default=DEFAULT_TOKEN, show_default=True, help="bearer token")
@click.option("--basic", default=None, metavar="USER:PASSWORD", help="also accept Basic auth")
@click.option("--paging", type=click.Choice(["token", "offset"]), default="token")
@click.option("--omit-nulls", is_flag=True, help="leave empty optional fields out of answers")
@click.option(
    "--latency-ms",
    type=click.FloatRange(0, MAX_LATENCY_MS),
    default=0.0,
    show_default=True,
    help="hold every API answer this long, like a real CRM across a network",
)
@click.option(
    "--break",
    "breakages",
    multiple=True,
    type=click.Choice(sorted(BREAKAGES)),
    help="switch on a deliberate contract violation (repeatable)",
)
def crm_command(
    port: int,
    host: str,
    db_path: str | None,
    token: str,
    basic: str | None,
    paging: str,
    omit_nulls: bool,
    latency_ms: float,
    breakages: tuple[str, ...],
) -> None:
    """Run the reference CRM connector (mount on `brightsync sandbox`)."""
    from werkzeug.serving import run_simple

    user_pass = tuple(basic.split(":", 1)) if basic else None
    if user_pass is not None and len(user_pass) != 2:
        raise click.BadParameter("use USER:PASSWORD", param_hint="--basic")
    app = create_crm_app(
        db_path=db_path,
        token=token or None,
        basic=user_pass,  # type: ignore[arg-type]
        breakages=frozenset(breakages),
        paging=paging,
        omit_nulls=omit_nulls,
        latency_ms=latency_ms,
    )
    click.echo(f"reference CRM on http://{host}:{port}  (token {token!r}; contract /openapi.json)")
    run_simple(host, port, app, threaded=True)


__all__ = [
    "BREAKAGES",
    "CrmSandbox",
    "MINIMAL",
    "DEFAULT_TOKEN",
    "Store",
    "create_crm_app",
    "crm_command",
]
