"""Safe creates: a CRM record is created once, even when the answer to the create is lost.

A create (POST) whose answer never arrives — a read timeout, a dropped connection, a gateway
502/504 — may or may not have stored the record. The HTTP layer never repeats it blindly; it
raises `MaybeCreated` (a `TransientError` with `ambiguous=True`). This module is the one
place every domain (email, contacts, companies, events, tasks) turns that into "exactly one
record":

1. **Record the intent before the request** (and that a request may be in flight).
2. **Send a stable `Idempotency-Key`** with the create: the same key on every attempt of the
   same intent, so a connector that honours the header answers a repeat with the original
   record (the contract recommends it; the reference CRM does).
3. **On a maybe-created outcome**, look for what the request may have made through the
   caller's lookup (after a short pause); found -> adopt it. Not found -> the create was
   not made, so it is sent again (same key), up to `tries` sends; still unknown -> the
   intent is marked "maybe" and `MaybeCreated` goes up (the caller defers and retries
   later, with backoff). Without a lookup, `MaybeCreated` goes up at once.
4. **Before any further attempt** of an intent that may have been sent, look first; found ->
   adopt it, never create it again. Without a lookup, the repeat relies on the
   Idempotency-Key (and on the caller's reconciliation, e.g. a two-way `since` feed).

The API (stable; other domains build on it):

``attempt_create(create, lookup, *, key, look_first, tries=3) -> Created``
    One attempt, with no storage: the caller keeps the intent itself. Email does this: the
    org-wide claim is the intent (its `attempts` counter, raised before the request, says
    whether an earlier attempt may have been sent), and the key is
    `idempotency_key("email", org_id, message_key)`.

``create_once(org_id, kind, key, create, lookup=None) -> Created``
    The same with the intent kept in the `create_intent` table, unique on
    (org, kind, key): contacts by address, companies by domain, events by iCalUid, tasks by
    their mailbox id... Safe against a worker dying at any line and against two workers at
    once (a worker holds the intent while sending; the other gets `CreateBusy`, a
    TransientError, and retries later). Once created, a repeat call returns the recorded
    record id (with a lookup: the record as found; if the lookup no longer finds it, the
    record was removed and a new one is created under a new key). `forget()` starts over.

Callables (I/O at the edge, supplied by the caller):

- ``create(idempotency_key: str) -> dict``: send the create with the header
  `Idempotency-Key: <idempotency_key>` (`CrmClient.create_*(payload, idempotency_key=...)`)
  and return the created record (with its "id").
- ``lookup() -> dict | None``: find the record a lost create may have made, bypassing any
  cache (email by rfc822MsgId, contact by address — the required lookup —, company by
  domain); None when absent. Pass None when the CRM offers no such lookup.

Errors: `MaybeCreated` (not found after an ambiguous outcome; retry later), `CreateBusy`
and other `TransientError`s (retry later), `FinalError` (refused for good; the intent is
marked failed and the next call starts a new one). All are subclasses of the HTTP layer's
errors, so a caller's existing "defer on TransientError, record on FinalError" handling
needs nothing more.

Rules for callers: call `create_once` outside any open database transaction of your own
(it commits the intent before the request, in its own sessions); pass the same payload for
the same key; a two-way engine records the returned `remote_id` in its status table and, if
it crashes before doing so, simply calls `create_once` again (it answers the recorded id,
sending nothing). `intent_state(org_id, kind, key)` shows an intent (state, remoteId,
attempts, idempotencyKey, lastError).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from brightsync.clients.http import ApiError, FinalError, MaybeCreated, TransientError
from brightsync.db import dialect_insert, session_scope
from brightsync.models import utcnow
from brightsync.models.creates import CreateIntent

log = logging.getLogger(__name__)

Create = Callable[[str], dict[str, Any]]
Lookup = Callable[[], dict[str, Any] | None]

#: Pause before looking for what a lost create made (doubling per send), unless the server
#: said Retry-After; longer pauses are left to the caller's deferral.
AGAIN_AFTER = 0.5
MAX_PAUSE = 10.0

#: How long a worker holds an intent while one send is in flight (renewed before each
#: further send). Longer than one request with its retries of 429s; a worker that dies
#: leaves it to lapse, and the next attempt looks before it sends.
SEND_LEASE = timedelta(seconds=60)
# Seconds before a create held by another worker is tried again (it ends within its hold).
BUSY_AGAIN = 5.0

PENDING, SENDING, MAYBE, CREATED, FAILED = "pending", "sending", "maybe", "created", "failed"


@dataclass(frozen=True)
class Created:
    """The outcome of a safe create: the record, and whether it was found, not made now."""

    record: dict[str, Any]  # as the CRM returned it (just {"id": ...} when only recorded)
    adopted: bool = False  # True: an earlier attempt made it; this one found and kept it

    @property
    def remote_id(self) -> str:
        return str(self.record["id"])


class CreateBusy(TransientError):
    """Another worker is sending this create right now: try again after it has finished."""


class WritesWaiting(TransientError):
    """A run's writes that wait for another worker's create of the same record (a colleague's
    run making the same meeting, say: `CreateBusy`). The run did everything else; a follow-up
    makes them once that create has ended. Not a failure, so not shown as one."""


def idempotency_key(*parts: Any) -> str:
    """A stable Idempotency-Key derived from what identifies the intent (e.g. a claim)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"bs-{digest[:40]}"


def _has_id(record: Any) -> bool:
    return isinstance(record, dict) and record.get("id") not in (None, "")


def attempt_create(
    create: Create,
    lookup: Lookup | None,
    *,
    key: str,
    look_first: bool,
    tries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    before_resend: Callable[[], None] | None = None,
) -> Created:
    """One attempt of a create whose intent the caller keeps (see the module doc).

    `look_first`: an earlier attempt may have been sent (its answer was lost, or its worker
    died): the lookup runs before anything is sent, and what it finds is adopted.
    After a lost answer the lookup runs (after a short pause, or the server's Retry-After);
    only when it finds nothing is the create sent again, up to `tries` sends in all.
    Without a lookup nothing is sent twice here: `MaybeCreated` goes up. `before_resend`
    runs before each further send (create_once renews its hold on the intent there).
    """
    if look_first and lookup is not None:
        found = lookup()
        if _has_id(found):
            assert found is not None
            return Created(found, adopted=True)
    for sent in range(1, tries + 1):
        try:
            return Created(create(key))
        except TransientError as exc:
            if not exc.ambiguous and sent > 1:
                # An earlier send of this attempt was lost: its outcome is still unknown.
                raise MaybeCreated(
                    str(exc), status=exc.status, retry_after=exc.retry_after
                ) from exc
            if not exc.ambiguous or lookup is None:
                raise
            pause = AGAIN_AFTER * 2 ** (sent - 1) if exc.retry_after is None else exc.retry_after
            again = sent < tries and pause <= MAX_PAUSE
            if again:
                sleep(pause)
            found = _look_after_loss(lookup, exc)
            if _has_id(found):
                assert found is not None
                log.info("a create's answer was lost; found its record %s", found["id"])
                return Created(found, adopted=True)
            if not again:
                raise
            log.info("a create's answer was lost and nothing was made: sending it again")
            if before_resend is not None:
                before_resend()
    raise AssertionError("unreachable")


def _look_after_loss(lookup: Lookup, lost: TransientError) -> dict[str, Any] | None:
    """The lookup after a lost answer; if it fails too, the outcome stays unknown."""
    try:
        return lookup()
    except ApiError as exc:
        log.warning("lookup after a lost create answer failed: %s", exc)
        raise lost from None


# --------------------------------------------------------------------------- with the table


@dataclass(frozen=True)
class _Taken:
    intent_id: int
    attempt: int
    idempotency_key: str
    look_first: bool


def create_once(
    org_id: int,
    kind: str,
    key: str,
    create: Create,
    lookup: Lookup | None = None,
    *,
    lease: timedelta = SEND_LEASE,
) -> Created:
    """Create the `kind` record known by `key` in the org's CRM exactly once (module doc)."""
    taken = _take(org_id, kind, key, lookup, lease)
    if isinstance(taken, Created):
        return taken
    try:
        result = attempt_create(
            create,
            lookup,
            key=taken.idempotency_key,
            look_first=taken.look_first,
            before_resend=lambda: _renew(taken, lease),
        )
    except TransientError as exc:
        # Nothing processed (e.g. 429s to the end) leaves the intent as it was before.
        unknown = exc.ambiguous or taken.look_first
        _settle(taken, MAYBE if unknown else PENDING, error=str(exc))
        raise
    except FinalError as exc:
        # A 2xx the contract does not allow (no id) still made a record: look next time.
        made = exc.status is not None and 200 <= exc.status < 300
        _settle(taken, MAYBE if made else FAILED, error=str(exc))
        raise
    except BaseException as exc:
        _settle(taken, MAYBE, error=f"{type(exc).__name__}: {exc}")
        raise
    _settle(taken, CREATED, remote_id=result.remote_id)
    return result


def forget(org_id: int, kind: str, key: str) -> None:
    """Drop the intent: the next `create_once` for this key creates a new record."""
    with session_scope() as s:
        s.execute(
            delete(CreateIntent).where(
                CreateIntent.org_id == org_id, CreateIntent.kind == kind, CreateIntent.key == key
            )
        )


def intent_state(org_id: int, kind: str, key: str) -> dict[str, Any] | None:
    """The stored intent, as a dict (for status pages and tests)."""
    with session_scope() as s:
        row = s.scalars(
            select(CreateIntent).where(
                CreateIntent.org_id == org_id, CreateIntent.kind == kind, CreateIntent.key == key
            )
        ).first()
        if row is None:
            return None
        return {
            "state": row.state,
            "remoteId": row.remote_id,
            "attempts": row.attempts,
            "idempotencyKey": row.idempotency_key,
            "lastError": row.last_error,
        }


def _new_key() -> str:
    return f"bs-{uuid.uuid4().hex}"


def _take(
    org_id: int, kind: str, key: str, lookup: Lookup | None, lease: timedelta
) -> _Taken | Created:
    """Record the intent and that a request is about to be sent (committed before it is)."""
    checked = False  # a created record the lookup no longer finds is made anew
    while True:
        with session_scope() as s:
            row = _locked_row(s, org_id, kind, key)
            if row.state == SENDING and row.busy_until is not None and row.busy_until > utcnow():
                raise CreateBusy(
                    f"another worker is creating {kind} {key!r}", retry_after=BUSY_AGAIN
                )
            if row.state == CREATED and row.remote_id:
                if lookup is None:
                    return Created({"id": row.remote_id}, adopted=True)
                if not checked:
                    remote_id = row.remote_id
                    s.rollback()  # no row lock held across the lookup
                    found = lookup()
                    if _has_id(found):
                        assert found is not None
                        return Created(found, adopted=True)
                    log.info("%s %s (%s) is gone: creating it again", kind, key, remote_id)
                    checked = True
                    continue
            if row.state in (CREATED, FAILED):
                # A new record (the old one is gone, or the last one was refused): a new
                # key, as a connector may remember the old key's answer.
                row.idempotency_key, row.attempts, row.remote_id = _new_key(), 0, None
                row.state = PENDING
            look_first = row.state in (SENDING, MAYBE)
            row.state, row.attempts = SENDING, row.attempts + 1
            row.busy_until, row.updated_at = utcnow() + lease, utcnow()
            return _Taken(row.id, row.attempts, row.idempotency_key, look_first)


def _locked_row(s: Any, org_id: int, kind: str, key: str) -> CreateIntent:
    now = utcnow()
    s.execute(
        dialect_insert(s)(CreateIntent)
        .values(
            org_id=org_id,
            kind=kind,
            key=key,
            idempotency_key=_new_key(),
            state=PENDING,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "kind", "key"])
    )
    return s.scalars(
        select(CreateIntent)
        .where(CreateIntent.org_id == org_id, CreateIntent.kind == kind, CreateIntent.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _renew(taken: _Taken, lease: timedelta) -> None:
    """Hold the intent for one more send; if another worker has taken it over, send no more."""
    with session_scope() as s:
        held = s.execute(
            update(CreateIntent)
            .where(CreateIntent.id == taken.intent_id, CreateIntent.attempts == taken.attempt)
            .values(busy_until=utcnow() + lease, updated_at=utcnow())
        ).rowcount
    if not held:
        raise CreateBusy(f"create intent {taken.intent_id} was taken over", retry_after=BUSY_AGAIN)


def _settle(
    taken: _Taken, state: str, *, remote_id: str | None = None, error: str | None = None
) -> None:
    """The attempt's outcome, unless another worker has taken the intent over since."""
    with session_scope() as s:
        done = s.execute(
            update(CreateIntent)
            .where(CreateIntent.id == taken.intent_id, CreateIntent.attempts == taken.attempt)
            .values(
                state=state,
                remote_id=remote_id,
                last_error=(error or None) and error[:500],
                busy_until=None,
                updated_at=utcnow(),
            )
        ).rowcount
    if not done:
        log.warning(
            "create intent %s was taken over while attempt %s ran", taken.intent_id, taken.attempt
        )


__all__ = [
    "Create",
    "CreateBusy",
    "Created",
    "Lookup",
    "MaybeCreated",
    "attempt_create",
    "create_once",
    "forget",
    "idempotency_key",
    "intent_state",
]
