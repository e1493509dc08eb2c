"""What an operator can do to a user or an item: sync now, pause, resume, retry, re-sync.

Each action is a durable change in the database (a flag, a cleared token, a queued run), so it
holds whichever process serves the request and whichever worker picks the work up. Functions
return (result, error): error is a sentence for a 4xx answer, result the new status.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from brightsync.crypto import encrypt
from brightsync.db import session_scope
from brightsync.models import SyncState, UnmatchedItem, User, utcnow
from brightsync.sync import scheduler
from brightsync.sync.queue import publish_intake, publish_subscriptions
from brightsync.sync_cache.cache import Kinds, retry_due


class ActionError(Exception):
    """A refusal with its HTTP status: 404 for a missing record, 409 for a wrong moment."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _services(user: User, service: str | None) -> list[str]:
    if service is None:
        return list(user.services or [])
    if service not in (user.services or []):
        raise ActionError(f"service {service!r} is not enabled for this user", 400)
    return [service]


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ActionError("user not found", 404)
    return user


def is_paused(session: Session, user_id: int, service: str) -> bool:
    """Checked where runs start: a paused user or service runs nothing until resumed."""
    row = session.execute(
        select(User.paused, SyncState.paused)
        .select_from(User)
        .outerjoin(SyncState, (SyncState.user_id == User.id) & (SyncState.service == service))
        .where(User.id == user_id)
    ).first()
    return bool(row and (row[0] or row[1]))


def set_paused(user_id: int, service: str | None, paused: bool) -> dict[str, Any]:
    """Pause or resume a whole user (service None) or one of its services.

    Pausing drops a queued run (it would only be skipped); a running one finishes its page and
    stops at the next start. Resuming queues a run so nothing waits for the next webhook.
    """
    with session_scope() as s:
        user = _user(s, user_id)
        services = _services(user, service)
        if service is None:
            user.paused = paused
            if not paused:
                # Resuming a user resumes its services too: one switch undoes what one did.
                s.execute(
                    update(SyncState).where(SyncState.user_id == user_id).values(paused=False)
                )
        else:
            state = scheduler.ensure_state(s, user_id, service)
            state.paused = paused
        if paused:
            s.execute(
                update(SyncState)
                .where(SyncState.user_id == user_id, SyncState.service.in_(services))
                .values(
                    pending_since=None,
                    state=case((SyncState.state == "queued", "idle"), else_=SyncState.state),
                )
            )
    queued = sync_now(user_id, service) if not paused else {}
    return {"userId": user_id, "paused": paused, "services": services, "queued": queued}


def sync_now(user_id: int, service: str | None = None) -> dict[str, str]:
    """Queue a run per service: "enqueued", or "paused" for a paused service.

    A task is published even when a run is already queued: that run's task may be lost (a
    broker that lost its data), and an operator asking for a run must get one.
    """
    with session_scope() as s:
        user = _user(s, user_id)
        services = _services(user, service)
        if user.paused:
            raise ActionError("this user is paused; resume it first")
        paused = [svc for svc in services if is_paused(s, user_id, svc)]
        if service is not None and paused:
            raise ActionError(f"service {service!r} is paused; resume it first")
    outcome = {}
    for svc in services:
        if svc in paused:
            outcome[svc] = "paused"
            continue
        scheduler.request_and_publish(user_id, svc, publish_intake, always=True)
        outcome[svc] = "enqueued"
    return outcome


def reconnect(user_id: int, access_token: str) -> dict[str, str]:
    """Store a new Aurinko token for the user and resume every service where it stopped.

    The user's mailbox is `ok` again at once; each service's run starts from its saved cursors
    (an expired one restarts as any run's does, deduplicated by the org-wide claims). The
    subscriptions are checked too: the periodic check skipped this user while it was dead.
    Returns what sync_now returns; the broker's refusal propagates after the token is stored
    (the safety sync resumes the user later, and the same request may be repeated).
    """
    with session_scope() as s:
        user = _user(s, user_id)
        user.access_token_enc = encrypt(access_token)
        user.mailbox_state = "ok"
        user.mailbox_error = None
        services = list(user.services or [])
        paused = bool(user.paused)
        held = {svc for svc in services if is_paused(s, user_id, svc)}
    publish_subscriptions(user_id)
    outcome = {}
    for svc in services:
        if paused or svc in held:
            outcome[svc] = "paused"
            continue
        # Always a task: the request a dead-token run left pending has none behind it (runs
        # end at once while the mailbox needs re-authorisation), so coalescing into it would
        # leave the user waiting for the sweeper.
        scheduler.request_and_publish(user_id, svc, publish_intake, always=True)
        outcome[svc] = "enqueued"
    return outcome


def resync(user_id: int, service: str | None = None) -> dict[str, Any]:
    """Forget the delta tokens and watermarks so the next run reads everything again.

    Safe to repeat: every message re-read meets its org-wide claim and every record its link,
    so nothing is written twice. Refused while a run holds the lease, which would otherwise
    store its next token over the cleared one.
    """
    now = utcnow()
    with session_scope() as s:
        user = _user(s, user_id)
        services = _services(user, service)
        for svc in services:
            scheduler.ensure_state(s, user_id, svc)
        cleared = s.execute(
            update(SyncState)
            .where(
                SyncState.user_id == user_id,
                SyncState.service.in_(services),
                or_(SyncState.lease_until.is_(None), SyncState.lease_until < now),
            )
            .values(updated_token=None, deleted_token=None, crm_since=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if cleared != len(services):
            s.rollback()
            raise ActionError("a run is in progress; re-sync when it has finished")
    queued = {} if user.paused else sync_now(user_id, service)
    return {"userId": user_id, "services": services, "tokensCleared": True, "queued": queued}


def retry_cache_item(org_id: int, item_id: int, kinds: Kinds) -> dict[str, Any]:
    """Look the item's addresses up in the CRM now; a match finishes it like a fresh message
    (`kinds`: the sync cache's table, `brightsync.domains.CACHE_KINDS`)."""
    with session_scope() as s:
        item = s.get(UnmatchedItem, item_id)
        if item is None or item.org_id != org_id:
            raise ActionError("no such item in this organisation's sync cache", 404)
    result = retry_due(kinds, org_id=org_id, ids=[item_id])
    if result.get("errors"):
        raise ActionError("the CRM could not be asked; the item stays for the next retry", 503)
    with session_scope() as s:
        still = s.get(UnmatchedItem, item_id)
        return {
            "id": item_id,
            "matched": still is None,
            "attempts": still.attempts if still is not None else None,
        }
