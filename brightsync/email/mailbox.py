"""A user's email delta sync: plan each page from headers, claim org-wide, finish what this
mailbox owns.

The position advances only after a page is durably handled: every message of the page is
either decided (skipped, sighted) or held by a claim row leased to the run (a lapsed lease is
picked up by the sweeper). Each handled page checkpoints the next one (see `email.delta`),
so a crash or a time limit in a large first sync resumes there instead of starting over; a
crash before the checkpoint replays one page, and the claims make the replay harmless.

`handle_page` is the apply step of `email.plan`: the plan says what to claim, sight or wait
for; this makes the claims, asks the plan what the answers mean, and hands the claims this
mailbox owns to the writer.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.email import claims, plan
from brightsync.email.context import EmailContext, load_context
from brightsync.email.copies import sender_copy_wait
from brightsync.email.delta import read_delta
from brightsync.email.handout import hand_out
from brightsync.email.message import sender_address
from brightsync.email.queue import publish_after_commit
from brightsync.email.relink import late_participants
from brightsync.email.writer import Work, process
from brightsync.models import EmailClaim, User, utcnow
from brightsync.ops.progress import progress
from brightsync.people.addresses import normalize_address
from brightsync.sync.run import RunContext

log = logging.getLogger(__name__)


def sync_mailbox(user_id: int, run: RunContext) -> None:
    ctx = load_context(user_id)
    if not ctx.settings["email"]["enabled"]:
        # Turned off for this mailbox (`email.enabled`): nothing read, the position kept.
        ctx.close()
        run.count("disabled")
        return
    try:
        # Claims this run inserts are leased to it: its heartbeat keeps them alive.
        run.hold(EmailClaim, EmailClaim.state.in_(claims.OPEN_STATES))
        read_delta(ctx, run, _Live(ctx, run), keep_position=True)
    finally:
        ctx.close()
        for key, value in ctx.counters.items():
            run.count(key, value)


class _Live:
    """Each page planned and applied at once, under the run's lease."""

    def __init__(self, ctx: EmailContext, run: RunContext) -> None:
        self.ctx, self.run = ctx, run

    def read(self, records: list[Any]) -> None:
        handle_page(self.ctx, records, owner=self.run.token, share=self.run.share_work)

    def progress(self) -> dict[str, int]:
        seen = self.ctx.counters.get("messages", 0)
        return {**self.ctx.counters, **progress(seen, seen, None, 0.0)}

    def restart(self) -> None:
        """Nothing to forget: the claims make a re-read harmless."""


def mailboxes_of(s: Session, org_id: int, user_id: int, records: list[Any]) -> dict[int, str]:
    """user id -> normalised address of this mailbox and of the registered mailboxes among the
    page's senders: what the plan asks about. Indexed on (org_id, email), so a page costs
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


class _PageWork:
    """What a page's claims leave for after its transaction."""

    def __init__(self) -> None:
        self.owned: list[Work] = []
        self.waiting: list[int] = []
        self.ended: list[int] = []  # to decide now: a trashed (junked) copy showed more people
        self.late: dict[int, frozenset[str]] = {}  # logged already; this copy shows more people


def handle_page(
    ctx: EmailContext, records: list[Any], owner: str | None = None, share: bool = False
) -> None:
    """Plan and claim every message of a page; then finish the ones this mailbox owns.

    New open claims are born leased to `owner` (the run), then finished under that lease;
    with `share` (a run in a worker) more than BRIGHTSYNC_EMAIL_CHUNK of them go to tasks.
    """
    work = _PageWork()
    wait = sender_copy_wait(ctx.settings)
    with session_scope() as s:
        mailboxes = mailboxes_of(s, ctx.org_id, ctx.user_id, records)
        page = plan.plan_page(
            records,
            ctx.policy,
            mailbox_address=mailboxes.get(ctx.user_id),
            registered=frozenset(mailboxes.values()),
            wait=wait,
            now=utcnow(),
        )
        for key, n in page.counts.items():
            ctx.count(key, n)
        for step in page.steps:
            if isinstance(step, plan.Malformed):
                if not step.has_id:
                    log.warning("message without an id in user %s's sync page skipped", ctx.user_id)
            elif isinstance(step, plan.Sighting):
                _sight(ctx, s, step, work)
            else:
                _claim(ctx, s, step, owner, work)
        if work.waiting:
            _finish_waits_later(s, work.waiting, wait)
        if work.ended:
            _finish_waits_later(s, work.ended, timedelta(0))
    if work.late:
        late_participants(ctx, work.late)
    owned = work.owned
    if owned and share and owner is not None:
        owned = hand_out(ctx, owned, owner)  # the rest goes to other workers
    if owned:
        process(ctx, owned, owner)


def _sight(ctx: EmailContext, s: Session, step: plan.Sighting, work: _PageWork) -> None:
    """A copy this mailbox cannot use: on record beside the claim; unless a draft, it still
    shows who the message went to."""
    claims.sight(
        s,
        org_id=ctx.org_id,
        user_id=ctx.user_id,
        key=step.key,
        provider_message_id=step.provider_id,
        note=step.reason,
    )
    if not step.reveals:
        return
    seen = claims.reveal(
        s,
        org_id=ctx.org_id,
        key=step.key,
        participants=step.participants,
        sender_copy=step.sender_copy,
    )
    if seen is None:
        return
    then = plan.after_reveal(seen, step.sender_copy)
    if then == "end":
        work.ended.append(seen.claim_id)  # its owner decides now, on everything known
    elif then == "late":
        work.late[seen.claim_id] = seen.revealed


def _claim(
    ctx: EmailContext, s: Session, step: plan.Claim, owner: str | None, work: _PageWork
) -> None:
    decision = step.decision
    result = claims.claim(
        s,
        org_id=ctx.org_id,
        user_id=ctx.user_id,
        key=decision.key,
        provider_message_id=step.provider_id,
        internet_message_id=decision.message_id,
        subject=step.subject,
        direction=decision.direction,
        state=step.state,
        reason=step.reason,
        participants=step.participants,
        wait_until=step.wait_until,
        lease_owner=owner,
    )
    msg, decision = plan.redecide(step, result.participants, ctx.policy)
    take = plan.take_over(step, decision, result)
    if take is not None:
        taken = claims.take_over(
            s,
            result.claim_id,
            user_id=ctx.user_id,
            provider_message_id=step.provider_id,
            expected_state=result.state,
            state=take.state,
            reason=take.reason,
        )
        if taken is not None:
            ctx.count(take.counter)
            result = taken
    then, counter = plan.route(decision, result)
    if counter:
        ctx.count(counter)
    if then == "late":
        work.late[result.claim_id] = result.revealed
    elif then == "wait":
        work.waiting.append(result.claim_id)
    elif then == "finish":
        work.owned.append(Work(claim_id=result.claim_id, msg=dict(msg), decision=decision))


def _finish_waits_later(s: Session, claim_ids: list[int], wait: timedelta) -> None:
    """Decide the waiting claims when their grace ends (the sweeper does it if this is lost)."""
    publish_after_commit(s, claim_ids, countdown=wait.total_seconds() + 1)
