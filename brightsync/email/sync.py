"""A user's email delta sync: decide from headers, claim org-wide, finish what this mailbox owns.

The delta token advances only after a page is durably handled: every message of the page is
either decided (skipped, sighted) or held by a claim row whose completion is queued. A crash
before the token is stored replays the page, and the claims make the replay harmless.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from brightsync.clients.aurinko import SyncTokenExpired
from brightsync.db import session_scope
from brightsync.email import claims
from brightsync.email.context import EmailContext, load_context
from brightsync.email.rules import classify
from brightsync.email.writer import Work, process
from brightsync.models import SyncState

log = logging.getLogger(__name__)

# Reasons that belong to one copy of a message, not to the message: another mailbox's copy
# of the same message may still be logged.
MAILBOX_LOCAL_REASONS = frozenset({"draft", "junk", "trash"})
DEFAULT_INITIAL_DAYS = 14


def sync_mailbox(user_id: int, run: Any) -> None:
    ctx = load_context(user_id)
    try:
        _sync(ctx, run)
    finally:
        ctx.close()
        for key, value in ctx.counters.items():
            run.count(key, value)


def _sync(ctx: EmailContext, run: Any) -> None:
    user_id = ctx.user_id
    state_id = run.state_id
    for _attempt in range(2):
        token = _token(state_id)
        if token is None:
            days = int(ctx.settings["email"].get("initialDays", DEFAULT_INITIAL_DAYS))
            tokens = ctx.aurinko.start_sync("email", days_within=days, body_type="html")
            token = tokens.updated_token
            _store_token(state_id, token)
            ctx.count("full_syncs")
        try:
            for page in ctx.aurinko.delta_pages("email", "updated", token):
                handle_page(ctx, page.records)
                run.renew(progress=ctx.counters)
                if page.next_delta_token:
                    _store_token(state_id, page.next_delta_token)
            break
        except SyncTokenExpired:
            # Dead token: start over. Claims make the full re-read harmless.
            log.info("email delta token of user %s expired; restarting the sync", user_id)
            _store_token(state_id, None)
            ctx.count("token_restarts")


def _token(state_id: int) -> str | None:
    with session_scope() as s:
        return s.scalar(select(SyncState.updated_token).where(SyncState.id == state_id))


def _store_token(state_id: int, token: str | None) -> None:
    with session_scope() as s:
        s.get(SyncState, state_id).updated_token = token


def handle_page(ctx: EmailContext, records: list[Any]) -> None:
    """Decide and claim every message of a page; then finish the ones this mailbox owns."""
    owned: list[Work] = []
    with session_scope() as s:
        for msg in records:
            ctx.count("messages")
            if not isinstance(msg, dict) or not msg.get("id"):
                ctx.count("malformed")
                log.warning("message without an id in user %s's sync page skipped", ctx.user_id)
                continue
            decision = classify(msg, ctx.policy)
            if not decision.key:
                ctx.count("malformed")
                continue
            provider_id = str(msg["id"])[:500]
            if not decision.should_log and decision.reason in MAILBOX_LOCAL_REASONS:
                claims.sight(
                    s,
                    org_id=ctx.org_id,
                    user_id=ctx.user_id,
                    key=decision.key,
                    provider_message_id=provider_id,
                    note=decision.reason,
                )
                ctx.count(f"skipped_{decision.reason}")
                continue
            result = claims.claim(
                s,
                org_id=ctx.org_id,
                user_id=ctx.user_id,
                key=decision.key,
                provider_message_id=provider_id,
                internet_message_id=decision.message_id,
                subject=msg.get("subject") if isinstance(msg.get("subject"), str) else None,
                direction=decision.direction,
                state="claimed" if decision.should_log else "skipped",
                reason=None if decision.should_log else decision.reason,
            )
            if not decision.should_log:
                ctx.count(f"skipped_{decision.reason}")
            elif not result.owned:
                ctx.count("deduplicated")
            elif result.state in claims.OPEN_STATES:
                owned.append(Work(claim_id=result.claim_id, msg=msg, decision=decision))
    if owned:
        process(ctx, owned)
