"""Webhook intake on Redis deployments: one Redis round trip in the web process.

accept (web): one Lua script recognises a replay (SET NX on the delivery's digest, kept for
twice the signature window: an older replay is refused by its timestamp anyway), appends the
notification to the intake buffer (a Redis list) and sets the "drain queued" flag. Only the
request that set the flag publishes a drain task, so a burst costs one task.

drain (worker; the task is `sync.jobs.drain_intake`): under a singleton lock it reads the
buffer's head in batches until it is empty, resolves the accounts in one query, requests the
runs through the database coalescing protocol (brightsync.sync.scheduler), writes the
batch's audit rows in one INSERT and trims what it handled; it clears the flag last, so a
burst rides on the running drain. A drain that dies leaves its entries in the buffer for the
next one: requests coalesce and audit rows are keyed by digest, so redoing them changes
nothing.

The embedded default and BRIGHTSYNC_WEBHOOK_INTAKE=database take the database path instead
(brightsync.sync.intake_db).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from brightsync.clients.aurinko import service_for_resource
from brightsync.config import Settings, get_settings
from brightsync.coordination import singleton
from brightsync.db import dialect_insert, session_scope
from brightsync.models import Notification, User
from brightsync.sync import scheduler
from brightsync.sync.queue import DRAIN_TASK, publish_intake, send
from brightsync.sync.resp import script_caller

log = logging.getLogger(__name__)

PREFIX = "brightsync:intake:"
BUFFER = PREFIX + "buffer"
FLAG = PREFIX + "drain-queued"
# A drain task lost with its broker stops blocking new ones after this.
FLAG_SECONDS = 30
BATCH = 500

# -1: a replay; 1: accepted, the caller publishes the drain; 0: accepted, a drain is queued.
_ACCEPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
redis.call('RPUSH', KEYS[2], ARGV[2])
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[3]) then return 1 end
return 0
"""


def enabled(settings: Settings) -> bool:
    return (
        settings.webhook_intake == "auto" and bool(settings.redis_url) and settings.broker_is_redis
    )


_clients: dict[tuple[str, int, bool], Any] = {}


def _redis(settings: Settings | None = None, *, single: bool = False) -> Any:
    """This process's Redis client for `settings` (a forked child makes its own).

    `single`: one connection held for the process (the web's hot path), instead of a pool
    checkout with its "is the socket clean?" probe before every command; redis-py reconnects
    it after an error, and its lock keeps it safe under threaded servers.
    """
    import redis

    url = (settings or get_settings()).redis_url
    assert url, "the fast intake needs REDIS_URL"
    key = (url, os.getpid(), single)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            url, socket_timeout=3, socket_connect_timeout=3, single_connection_client=single
        )
    return client


_scripts: dict[tuple[str, int], Any] = {}


def _accept_script(settings: Settings) -> Any:
    """The accept script on this process's one connection, called by EVALSHA: its text
    crosses the wire once, not with every webhook (brightsync.sync.resp: plain RESP bytes on
    a socket for redis:// URLs, redis-py's script for the rest)."""
    url = settings.redis_url or ""
    key = (url, os.getpid())
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = script_caller(
            url, _ACCEPT, lambda: _redis(settings, single=True).register_script(_ACCEPT)
        )
    return script


def entry(note: dict[str, Any], digest: str, received: float | None = None) -> dict[str, Any]:
    """What the buffer keeps of a notification: enough for the run request and the audit row."""
    return {
        "digest": digest,
        "accountId": str(note["accountId"]),
        "resource": note["resource"][:200],
        "subscription": str(note["subscription"])[:100]
        if note.get("subscription") is not None
        else None,
        "payloads": len(note.get("payloads") or []),
        "at": time.time() if received is None else received,
    }


def accept(settings: Settings, note: dict[str, Any], digest: str) -> str:
    """Buffer one verified notification: "duplicate", "enqueued" or "coalesced".

    Raises when Redis or the broker is down (the caller answers 503); the replay mark is then
    undone so Aurinko's redelivery is accepted, not dismissed.
    """
    seen = PREFIX + "seen:" + digest
    outcome = _accept_script(settings)(
        keys=(seen, BUFFER, FLAG),
        args=(
            2 * settings.webhook_tolerance_seconds,
            json.dumps(entry(note, digest), separators=(",", ":")),
            FLAG_SECONDS,
        ),
    )
    if outcome == -1:
        return "duplicate"
    if outcome == 0:
        return "coalesced"
    try:
        send(DRAIN_TASK, [], "intake")
    except Exception:
        _redis(settings, single=True).delete(seen, FLAG)
        raise
    return "enqueued"


def audit_row(
    note: dict[str, Any], digest: str, outcome: str, user_id: int | None
) -> dict[str, Any]:
    return {
        "digest": digest,
        "account_id": str(note["accountId"]),
        "resource": note["resource"][:200],
        "subscription": str(note["subscription"])[:100]
        if note.get("subscription") is not None
        else None,
        "user_id": user_id,
        "lifecycle_event": note.get("lifecycleEvent"),
        "payload_count": len(note.get("payloads") or []),
        "outcome": outcome,
    }


def decide(
    entries: list[dict[str, Any]], users: dict[str, tuple[int, list[str]]]
) -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
    """Runs to request (each (user, service) once) and the audit rows, for one batch."""
    wanted: list[tuple[int, str]] = []
    rows = []
    for e in entries:
        user = users.get(e["accountId"])
        service = service_for_resource(e["resource"])
        if user is None or service is None or service not in user[1]:
            outcome = "ignored"
        elif (user[0], service) in wanted:
            outcome = "coalesced"
        else:
            wanted.append((user[0], service))
            outcome = "enqueued"
        rows.append(
            {
                "digest": e["digest"],
                "account_id": e["accountId"],
                "resource": e["resource"],
                "subscription": e["subscription"],
                "user_id": user[0] if user else None,
                "payload_count": e["payloads"],
                "outcome": outcome,
                "received_at": datetime.fromtimestamp(e["at"], UTC),  # aware, as utcnow()
            }
        )
    return wanted, rows


def coalesced_into_pending(
    entries: list[dict[str, Any]], rows: list[dict[str, Any]], pending: set[tuple[int, str]]
) -> list[dict[str, Any]]:
    """The audit rows once the runs were requested: a (user, service) that already had a run
    pending published nothing, so its "enqueued" row is "coalesced" after all."""
    out = []
    for e, row in zip(entries, rows, strict=True):
        key = (row["user_id"], service_for_resource(e["resource"]))
        if row["outcome"] == "enqueued" and key in pending:
            row = {**row, "outcome": "coalesced"}
        out.append(row)
    return out


def _handle(entries: list[dict[str, Any]]) -> None:
    accounts = {e["accountId"] for e in entries}
    with session_scope() as s:
        users = {
            acct: (uid, list(services or []))
            for uid, acct, services in s.execute(
                select(User.id, User.aurinko_account_id, User.services).where(
                    User.aurinko_account_id.in_(accounts)
                )
            )
        }
        wanted, rows = decide(entries, users)
        publish = [(u, svc) for u, svc in wanted if scheduler.request_run(s, u, svc)]
        rows = coalesced_into_pending(entries, rows, set(wanted) - set(publish))
    for user_id, service in publish:
        try:
            publish_intake(user_id, service)
        except Exception:
            scheduler.cancel_request(user_id, service)
            raise
    with session_scope() as s:
        insert = dialect_insert(s)
        s.execute(
            insert(Notification).values(rows).on_conflict_do_nothing(index_elements=["digest"])
        )


def drain(batch: int = BATCH) -> int:
    """Handle everything buffered; returns how many notifications were handled."""
    client = _redis()
    handled = 0
    while True:
        with singleton("intake-drain", ttl=120) as mine:
            if not mine:
                return handled  # the holder re-checks the buffer after it lets go
            while raw := client.lrange(BUFFER, 0, batch - 1):
                _handle([json.loads(x) for x in raw])
                client.ltrim(BUFFER, len(raw), -1)
                handled += len(raw)
            # Until here a burst's notifications ride on this drain (no task each); one
            # buffered between the last read and this DEL is caught by the check below.
            client.delete(FLAG)
        if not client.llen(BUFFER):
            return handled


def drain_stalled(settings: Settings | None = None) -> int:
    """The sweeper's backstop: notifications buffered while no drain is queued (its task was
    lost with a killed worker or a flushed broker, and the flag has lapsed) are drained now,
    so nothing waits for the next webhook that may never come."""
    settings = settings or get_settings()
    if not enabled(settings):
        return 0
    client = _redis(settings)
    if not client.llen(BUFFER) or client.exists(FLAG):
        return 0
    return drain()
