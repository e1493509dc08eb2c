"""Delta sync of every service: the start call (which fixes a session's window and body
type), then pages of updated or deleted records by delta and page tokens (the model is
described in model.py), with expired tokens answering 410 or 400 as set per account.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.mail import message_json
from brightsync.sandbox.aurinko.model import Account, Cursor, Item, SyncSession
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def start_sync(
    sim: AurinkoSimulator, account: Account, service: str, container: str | None, **params: Any
) -> dict[str, Any]:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        remaining = account.not_ready.get(service, 0)
        if remaining > 0:
            account.not_ready[service] = remaining - 1
            return {"ready": False}
        session = SyncSession(
            id=uuid.uuid4().hex,
            account_id=account.id,
            service=service,
            feed_key=feed_key,
            started=time.time(),
            **params,
        )
        sim.sessions[session.id] = session
        return {
            "syncUpdatedToken": _delta_token(sim, session, "updated", 0, account.generation),
            "syncDeletedToken": _delta_token(
                sim, session, "deleted", account.seq, account.generation
            ),
            "ready": True,
        }


def _delta_token(
    sim: AurinkoSimulator, session: SyncSession, kind: str, since: int, generation: int
) -> str:
    key = (session.id, kind, since, generation)
    token = sim.delta_tokens.get(key)
    if token is None:
        token = secrets.token_urlsafe(24)
        sim.delta_tokens[key] = token
        sim.tokens[token] = Cursor(session.id, kind, False, since, None, since, generation)
    return token


def delta(
    sim: AurinkoSimulator,
    account: Account,
    service: str,
    container: str | None,
    kind: str,
    delta_token: str | None,
    page_token: str | None,
) -> dict[str, Any]:
    with sim.lock:
        feed_key = sim.feed_key(account, service, container)
        token = page_token or delta_token
        if not token:
            raise bad_request("deltaToken or pageToken is required")
        cursor = sim.tokens.get(token)
        session = sim.sessions.get(cursor.session_id) if cursor else None
        if (
            cursor is None
            or session is None
            or session.account_id != account.id
            or session.feed_key != feed_key
            or cursor.kind != kind
            or cursor.page != bool(page_token)
        ):
            raise ApiFailure(400, "token.notValid", "Page token is invalid")
        if cursor.generation != account.generation:
            if account.expire_mode == "400":
                raise ApiFailure(400, "token.notValid", "Page token is invalid")
            raise ApiFailure(410, "syncToken.expired", "syncToken expired.")
        upto = account.seq if cursor.upto is None else cursor.upto
        feed = account.feeds[feed_key]
        records: list[dict[str, Any]] = []
        last, more = cursor.after, False
        for item in feed.scan(cursor.after, upto):
            if kind == "updated" and (item.deleted or not session.includes(item)):
                continue
            if kind == "deleted" and not item.deleted:
                continue
            if len(records) >= sim.page_size:
                more = True
                break
            records.append(_render(account, session, item, kind))
            last = item.seq
        page: dict[str, Any] = {}
        if more:
            next_page = secrets.token_urlsafe(24)
            sim.tokens[next_page] = Cursor(
                session.id, kind, True, cursor.since, upto, last, cursor.generation
            )
            page["nextPageToken"] = next_page
        else:
            page["nextDeltaToken"] = _delta_token(sim, session, kind, upto, cursor.generation)
        page["length"] = len(records)
        page["records"] = records
        return page


def _render(account: Account, session: SyncSession, item: Item, kind: str) -> dict[str, Any]:
    if kind == "deleted":
        out = {"id": item.id, "timestamp": R.iso(item.deleted_at)}
        if session.service == "email":
            for key in ("folderId", "internetMessageId"):
                if item.record.get(key):
                    out[key] = item.record[key]
        return out
    if session.service == "email":
        return message_json(account, item, session.body_type, full=False)
    return R.clean(item.record)
