"""A user's email delta sync: decide from headers, claim org-wide, finish what this mailbox owns.

The position advances only after a page is durably handled: every message of the page is
either decided (skipped, sighted) or held by a claim row leased to the run (a lapsed lease is
picked up by the sweeper). Each handled page checkpoints the next one (`resume_token`), so a
crash or a time limit in a large first sync resumes there instead of starting over; a crash
before the checkpoint replays one page, and the claims make the replay harmless. Every
checkpoint is fenced on the run's lease.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brightsync.clients.aurinko import SyncTokenExpired
from brightsync.db import session_scope
from brightsync.email import claims
from brightsync.email.context import EmailContext, load_context
from brightsync.email.copies import (
    awaits_sender_copy,
    copy_participants,
    is_sender_copy,
    sender_copy_wait,
    with_hidden,
)
from brightsync.email.handout import hand_out
from brightsync.email.message import sender_address
from brightsync.email.queue import publish_after_commit
from brightsync.email.relink import late_participants
from brightsync.email.rules import MAILBOX_LOCAL_REASONS, Decision, classify
from brightsync.email.writer import Work, process
from brightsync.models import EmailClaim, SyncState, User, utcnow
from brightsync.ops.progress import progress
from brightsync.people.addresses import normalize_address

log = logging.getLogger(__name__)

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
    # Claims this run inserts are leased to it: its heartbeat keeps them alive.
    run.hold(EmailClaim, EmailClaim.state.in_(claims.OPEN_STATES))
    for _attempt in range(3):
        token, resume = _tokens(run.state_id)
        if token is None:
            days = int(ctx.settings["email"].get("initialDays", DEFAULT_INITIAL_DAYS))
            tokens = ctx.aurinko.start_sync("email", days_within=days, body_type="html")
            token, resume = tokens.updated_token, None
            run.checkpoint(updated_token=token, resume_token=None)
            ctx.count("full_syncs")
        elif resume:
            ctx.count("resumed")
        try:
            for page in ctx.aurinko.delta_pages("email", "updated", token, page_token=resume):
                handle_page(ctx, page.records, owner=run.token, share=run.share_work)
                # Checkpoint every handled page: a crash or a time limit resumes at the next.
                if page.next_delta_token:
                    run.checkpoint(updated_token=page.next_delta_token, resume_token=None)
                else:
                    run.checkpoint(resume_token=page.next_page_token)
                seen = ctx.counters.get("messages", 0)
                run.renew(progress={**ctx.counters, **progress(seen, seen, None, 0.0)})
            break
        except SyncTokenExpired:
            if resume:
                # The saved position is dead: run again from the delta token it came from.
                log.info("resume position of user %s expired; re-reading the delta", user_id)
                run.checkpoint(resume_token=None)
                ctx.count("resume_restarts")
                continue
            # Dead token: start over. Claims make the full re-read harmless.
            log.info("email delta token of user %s expired; restarting the sync", user_id)
            run.checkpoint(updated_token=None, resume_token=None)
            ctx.count("token_restarts")


def _tokens(state_id: int) -> tuple[str | None, str | None]:
    with session_scope() as s:
        row = s.execute(
            select(SyncState.updated_token, SyncState.resume_token).where(SyncState.id == state_id)
        ).one()
    return row.updated_token, row.resume_token


def _mailboxes(s: Session, org_id: int, user_id: int, records: list[Any]) -> dict[int, str]:
    """user id -> normalised address of this mailbox and of the registered mailboxes among the
    page's senders: what the decisions ask about. Indexed on (org_id, email), so a page costs
    its own senders, not every mailbox of the organisation (addresses are stored lowercased
    at registration)."""
    # The sender as classify() reads it: the same parser, the same single entry.
    senders = {a for msg in records if (a := sender_address(msg))}
    rows = s.execute(
        select(User.id, User.email).where(
            User.org_id == org_id, or_(User.id == user_id, User.email.in_(sorted(senders)))
        )
    ).all()
    return {r.id: a for r in rows if (a := normalize_address(r.email))}


def handle_page(
    ctx: EmailContext, records: list[Any], owner: str | None = None, share: bool = False
) -> None:
    """Decide and claim every message of a page; then finish the ones this mailbox owns.

    New open claims are born leased to `owner` (the run), then finished under that lease;
    with `share` (a run in a worker) more than BRIGHTSYNC_EMAIL_CHUNK of them go to tasks.
    """
    owned: list[Work] = []
    waiting: list[int] = []
    ended: list[int] = []  # to decide now: a trashed (junked) copy showed more people
    late: dict[int, frozenset[str]] = {}  # logged already, and this copy shows more people
    wait = sender_copy_wait(ctx.settings)
    with session_scope() as s:
        mailboxes = _mailboxes(s, ctx.org_id, ctx.user_id, records)
        registered = set(mailboxes.values())
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
            view = copy_participants(msg)
            sender_copy = is_sender_copy(msg, decision, mailboxes.get(ctx.user_id))
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
                if decision.reason != "draft":  # a draft's recipients are not final
                    _unusable_copy(ctx, s, decision.key, view, sender_copy, ended, late)
                continue
            waits = bool(wait) and awaits_sender_copy(
                decision,
                sender_registered=decision.sender is not None
                and decision.sender.address in registered,
                sender_copy=sender_copy,
            )
            state = "waiting" if waits else ("claimed" if decision.should_log else "skipped")
            result = claims.claim(
                s,
                org_id=ctx.org_id,
                user_id=ctx.user_id,
                key=decision.key,
                provider_message_id=provider_id,
                internet_message_id=decision.message_id,
                subject=msg.get("subject") if isinstance(msg.get("subject"), str) else None,
                direction=decision.direction,
                state=state,
                reason=(
                    "waiting for the sender's copy"
                    if waits
                    else (None if decision.should_log else decision.reason)
                ),
                participants=view,
                wait_until=utcnow() + wait if waits else None,
                lease_owner=owner,
            )
            if result.participants - view:
                # Other copies showed more (the sender's Bcc): decide on everything known.
                msg = with_hidden(msg, result.participants)
                decision = classify(msg, ctx.policy)
            changed = decision.should_log or decision.reason != result.reason
            if (
                not result.owned
                and changed
                and claims.takes_over(
                    result.state,
                    result.reason,
                    revealed=bool(result.revealed),
                    sender_copy=sender_copy,
                )
            ):
                taken = claims.take_over(
                    s,
                    result.claim_id,
                    user_id=ctx.user_id,
                    provider_message_id=provider_id,
                    expected_state=result.state,
                    state="claimed" if decision.should_log else "skipped",
                    reason=None if decision.should_log else decision.reason,
                )
                if taken is not None:
                    ctx.count("reopened" if result.state != claims.WAITING else "waited")
                    result = taken
            _count(ctx, decision, result)
            if result.state == "logged" and result.revealed:
                late[result.claim_id] = result.revealed
            if result.owned and result.state == claims.WAITING:
                waiting.append(result.claim_id)
            elif result.owned and result.state in claims.OPEN_STATES:
                owned.append(Work(claim_id=result.claim_id, msg=msg, decision=decision))
        if waiting:
            _finish_waits_later(s, waiting, wait)
        if ended:
            _finish_waits_later(s, ended, timedelta(0))
    if late:
        late_participants(ctx, late)
    if owned and share and owner is not None:
        owned = hand_out(ctx, owned, owner)  # the rest goes to other workers
    if owned:
        process(ctx, owned, owner)


def _unusable_copy(
    ctx: EmailContext,
    s: Session,
    key: str,
    view: frozenset[str],
    sender_copy: bool,
    ended: list[int],
    late: dict[int, frozenset[str]],
) -> None:
    """A trashed or junked copy still shows who the message went to: tell the claim."""
    seen = claims.reveal(s, org_id=ctx.org_id, key=key, participants=view, sender_copy=sender_copy)
    if seen is None:
        return
    if (seen.state == claims.WAITING and sender_copy) or (
        seen.state == "claimed" and seen.revealed
    ):
        ended.append(seen.claim_id)  # its owner decides now, on everything known
    elif seen.state == "logged" and seen.revealed:
        late[seen.claim_id] = seen.revealed


def _count(ctx: EmailContext, decision: Decision, result: claims.ClaimResult) -> None:
    if result.owned and result.state == claims.WAITING:
        ctx.count("waiting_for_sender_copy")
    elif not decision.should_log:
        ctx.count(f"skipped_{decision.reason}")
    elif not result.owned:
        ctx.count("deduplicated")


def _finish_waits_later(s: Session, claim_ids: list[int], wait: timedelta) -> None:
    """Decide the waiting claims when their grace ends (the sweeper does it if this is lost)."""
    publish_after_commit(s, claim_ids, countdown=wait.total_seconds() + 1)
