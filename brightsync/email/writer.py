"""Finish owned claims: match, thread, load the body, write to the CRM exactly once.

The write protocol: lease the claim -> record the intent (state "logging", attempts + 1) ->
if an earlier attempt may have created the email, look it up by rfc822MsgId first -> create
with the claim's Idempotency-Key -> store the CRM id (brightsync.sync.creates; a create whose
answer was lost is looked up at once, else deferred as MaybeCreated). A crash anywhere
repeats safely; a CRM outage leaves the claim open with a retry time and a queued task,
never lost and never doubled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.crm import LookupBudgetSpent
from brightsync.clients.http import AuthError, FinalError, NotFoundError, TransientError
from brightsync.crm.matching import contact_addresses
from brightsync.db import session_scope
from brightsync.email import attach
from brightsync.email.claim_leases import held, take_for_work
from brightsync.email.content import build_crm_email, text_and_html
from brightsync.email.context import EmailContext
from brightsync.email.copies import copy_participants, with_hidden
from brightsync.email.files import entry, file_settings, plan_files
from brightsync.email.outcomes import defer, fail, hand_over
from brightsync.email.plan import contacts_to_create, lead_lookups
from brightsync.email.queue import publish_after_commit
from brightsync.email.relink import (
    crm_msg_id,
    logged_email,
    record_participants,
    relink,
    unique_contacts,
    update_threads,
)
from brightsync.email.rules import (
    LOG_INTERNAL,
    MAILBOX_LOCAL_REASONS,
    Decision,
    classify,
)
from brightsync.email.thread_store import assign_thread
from brightsync.models import EmailClaim, utcnow
from brightsync.sync import creates, leases
from brightsync.sync_cache import cache

log = logging.getLogger(__name__)


@dataclass
class Work:
    claim_id: int
    msg: dict[str, Any] | None = None  # as seen in the sync page (may lack the body)
    decision: Decision | None = None
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> contact
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> lead (no contact)
    lease: str = ""  # the fencing token this worker holds the claim with


def _needs_body(msg: dict[str, Any]) -> bool:
    omitted = msg.get("omitted") or []
    return "body" in omitted or msg.get("body") is None


def process(ctx: EmailContext, items: list[Work], owner: str | None = None) -> None:
    """Finish the given claims owned by ctx's user; reschedule what cannot finish now.

    Each claim is leased to `owner` (a run's or a task's fencing token; the caller's heartbeat
    keeps the leases alive) and every change to it is fenced on that lease: a claim another
    worker took over meanwhile is left to it.
    """
    owner = owner or leases.new_owner()
    leased: list[Work] = []
    with session_scope() as s:
        for item in items:
            if take_for_work(s, item.claim_id, owner):
                item.lease = owner
                leased.append(item)
    if not leased:
        return
    # Logged emails whose files are still missing: only those are delivered (email/attach.py).
    later = attach.follow_ups([w.claim_id for w in leased])
    for item in [w for w in leased if w.claim_id in later]:
        try:
            attach.complete(ctx, item.claim_id, item.lease)
        except leases.LeaseLost:
            ctx.count("lease_lost")
    leased = [w for w in leased if w.claim_id not in later]
    try:
        ready = _prepare(ctx, leased)
        ready = _match_batch(ctx, ready)
        for index, item in enumerate(ready):
            try:
                _finish(ctx, item)
            except TokenDeadError:
                raise
            except (TransientError, AuthError) as exc:
                # The CRM is struggling: defer this one and everything after it in one go.
                defer(ctx, [w.claim_id for w in ready[index:]], exc, owner)
                return
            except leases.LeaseLost:
                log.warning("claim %s was taken over by another worker; leaving it", item.claim_id)
                ctx.count("lease_lost")
            except FinalError as exc:
                fail(ctx, item.claim_id, exc, lease=item.lease)  # this record only: go on
        created = {a for c in ctx.matcher.created_contacts for a in contact_addresses(c)}
        if created:
            try:
                relink(ctx, created)
            except (TransientError, FinalError) as exc:
                # Best effort: the contact watch re-links these later.
                log.warning("re-linking mail to new contacts failed: %s", exc)
    except TokenDeadError:
        for w in leased:
            hand_over(ctx, w.claim_id, "owner mailbox needs re-authorisation", owner)
        raise
    except (TransientError, AuthError) as exc:
        # AuthError: the CRM refuses our credentials, which is no fault of one record; the
        # items wait (with backoff) for the connection to be fixed.
        defer(ctx, [w.claim_id for w in leased], exc, owner)


def _prepare(ctx: EmailContext, leased: list[Work]) -> list[Work]:
    """Make sure each item has its message (headers at least) and a decision on every copy.

    The decision sees the participants every copy showed (recorded on the claim), never just
    this copy's; a copy-local fact (draft, junk, trash) of the copy at hand passes the claim
    to another holder instead of deciding for the organisation.
    """
    ready = []
    with session_scope() as s:
        rows = {
            c.id: (c.provider_message_id, frozenset(c.participants or ()))
            for c in s.scalars(
                select(EmailClaim).where(EmailClaim.id.in_([w.claim_id for w in leased]))
            )
        }
    for item in leased:
        provider_id, known = rows[item.claim_id]
        if item.msg is None:
            try:
                item.msg = ctx.aurinko.get_message(provider_id)
                ctx.count("body_loads")
            except NotFoundError:
                hand_over(ctx, item.claim_id, "message gone from the owner's mailbox", item.lease)
                continue
            except AuthError:
                raise
            except FinalError as exc:
                fail(ctx, item.claim_id, exc, who="the mailbox", lease=item.lease)
                continue
        if item.decision is None or not known <= copy_participants(item.msg):
            item.msg = with_hidden(item.msg, known)
            item.decision = classify(item.msg, ctx.policy)
        if not item.decision.should_log and item.decision.reason in MAILBOX_LOCAL_REASONS:
            # This copy is in the owner's trash (junk, drafts): that says nothing about the
            # message. A colleague's copy may still be logged.
            hand_over(ctx, item.claim_id, item.decision.reason, item.lease)
            continue
        if not item.decision.should_log:
            try:
                with session_scope() as s:
                    c = held(s, item.claim_id, item.lease)
                    c.state, c.reason, c.decided_at = "skipped", item.decision.reason, utcnow()
                    c.lease_until = c.lease_owner = None
            except leases.LeaseLost:
                ctx.count("lease_lost")
            continue
        ready.append(item)
    return ready


def _match_batch(ctx: EmailContext, ready: list[Work]) -> list[Work]:
    """One batched lookup for the whole batch, then per message: match, else auto-create.

    A lookup the CRM refuses for good fails only the message it was for: when the batched
    lookup is refused, each message asks for its own addresses, so one poisoned address
    cannot hold the rest of the batch. The same holds for the opportunity lookup. Returns the
    items still to be written.
    """
    decisions = [w.decision for w in ready if w.decision is not None]
    try:
        ctx.matcher.prefetch(p.address for d in decisions for p in d.external)
    except FinalError as exc:
        if isinstance(exc, AuthError):
            raise
        log.warning("batched contact lookup refused (%s); asking message by message", exc)
    looked_up = _lookup_each(ctx, ready, lambda w: _match_contacts(ctx, w))
    # People no contact matched may be the CRM's leads: one lookup for the whole batch.
    ctx.matcher.prefetch_leads(a for w in looked_up for a in lead_lookups(w.decision, w.matched))
    kept = _lookup_each(ctx, looked_up, lambda w: _match_leads_or_create(ctx, w))
    contacts = [c for w in kept for c in w.matched.values()]
    if ctx.matcher.prefetch_opportunities(unique_contacts(contacts)):
        return kept
    # The batched opportunity lookup was refused: each message asks for its own contacts'
    # deals, and a refusal fails only the message it was for.
    return _lookup_each(ctx, kept, lambda w: _own_relations(ctx, w), what="opportunity lookup")


def _lookup_each(
    ctx: EmailContext,
    items: list[Work],
    step: Callable[[Work], None],
    what: str = "contact lookup",
) -> list[Work]:
    """`step` (CRM lookups) for each item, in order; the items it finished. A refused lookup
    fails only the message it was for; a spent one-address lookup budget defers this item
    and the rest (with backoff), while those already matched are written now."""
    done: list[Work] = []
    for index, w in enumerate(items):
        try:
            step(w)
        except LookupBudgetSpent as exc:
            defer(ctx, [x.claim_id for x in items[index:]], exc, w.lease)
            break
        except FinalError as exc:
            if isinstance(exc, AuthError):
                raise
            fail(ctx, w.claim_id, exc, what=what, lease=w.lease)
            continue
        done.append(w)
    return done


def _own_relations(ctx: EmailContext, w: Work) -> None:
    if w.matched:
        ctx.matcher.relations(unique_contacts(list(w.matched.values())))


def _match_contacts(ctx: EmailContext, w: Work) -> None:
    assert w.decision is not None
    w.matched = ctx.matcher.match([p.address for p in w.decision.external])


def _match_leads_or_create(ctx: EmailContext, w: Work) -> None:
    """Leads for people no contact matched; contacts created for the rest, as the policy says."""
    assert w.decision is not None
    w.leads = ctx.matcher.match_leads(lead_lookups(w.decision, w.matched))
    missing = contacts_to_create(w.decision, ctx.policy, w.matched, w.leads)
    if missing:
        created = ctx.matcher.ensure_contacts(missing)
        w.matched.update(created)
        ctx.count("contacts_linked_or_created", len(created))


def _finish(ctx: EmailContext, item: Work) -> None:
    msg, decision = item.msg, item.decision
    assert msg is not None and decision is not None
    matched = item.matched
    external = [p.address for p in decision.external]
    with session_scope() as s:
        c = held(s, item.claim_id, item.lease)
        if not decision.truncated and not set(c.participants or ()) <= copy_participants(msg):
            # Another copy showed participants this decision did not see (the sender's Bcc)
            # since it was made: decide again on everything known before writing anything.
            c.lease_until = c.lease_owner = None
            publish_after_commit(s, [item.claim_id])
            ctx.count("redecided")
            return
        thread_id, moved = assign_thread(s, ctx.org_id, msg, ctx.account_id)
        c.thread_id = thread_id
        c.addresses = external[:200]
        relations = (
            ctx.matcher.relations(
                unique_contacts(list(matched.values())), list(item.leads.values())
            )
            if matched or item.leads
            else None
        )
        if relations is None:
            relations = _thread_relations(s, ctx.org_id, thread_id, c.id)
        if relations is None and decision.reason == LOG_INTERNAL:
            relations = {"contacts": [], "companies": [], "opportunities": []}
        if relations is None:
            c.state, c.reason = "unmatched", "no matching contact"
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
            record_participants(s, ctx.org_id, c.id, external, set())
            cache.park(
                s,
                org_id=ctx.org_id,
                kind="email",
                key=c.message_key,
                user_id=c.owner_user_id,
                subject=c.subject,
                addresses=external,
                reason="no matching contact",
                settings=ctx.settings,
            )
            ctx.count("unmatched")
            return
        c.state = "logging"
        c.attempts += 1
        attempts = c.attempts
        rfc_key = c.message_key
    if _needs_body(msg):
        try:
            full = ctx.aurinko.get_message(_provider_id(item.claim_id))
        except NotFoundError:
            hand_over(ctx, item.claim_id, "message gone from the owner's mailbox", item.lease)
            return
        ctx.count("body_loads")
        msg = {**msg, **full}
    text, html = text_and_html(msg)
    files = plan_files(msg.get("attachments"), *file_settings(ctx.settings))
    payload = build_crm_email(
        msg,
        thread_id=thread_id,
        related_to=relations,
        text_body=text,
        html_body=html,
        attachments=[entry(f) for f in files],
    )
    if not payload.get("rfc822MsgId"):
        # No Message-ID: a stable synthetic one keeps look-before-create possible.
        payload["rfc822MsgId"] = crm_msg_id(rfc_key)
    provider_id = _provider_id(item.claim_id) if any(f.send for f in files) else ""
    delivery = attach.Delivery(ctx, provider_id, files, rfc_key)
    try:
        with delivery:
            # The claim is the intent: attempts > 1 means an earlier attempt may have been sent.
            made = creates.attempt_create(
                lambda key: delivery.create(payload, key),
                lambda: logged_email(ctx, payload["rfc822MsgId"]),
                key=creates.idempotency_key("email", ctx.org_id, rfc_key),
                look_first=attempts > 1,
            )
            crm_id = made.remote_id
            ctx.count("found_existing" if made.adopted else "logged")
            if delivery.upload:  # files one at a time, after the email (never blocking it)
                delivery.upload_files(crm_id, look=made.adopted or attempts > 1)
    except FinalError as exc:
        with session_scope() as s:
            c = held(s, item.claim_id, item.lease)
            c.state, c.reason = "failed", f"CRM refused: {exc.message}"[:500]
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
        ctx.count("failed")
        return
    # The outcome is fenced: a worker that lost the claim meanwhile records nothing (the new
    # owner's attempt > 1 looks the email up by rfc822MsgId and finds this one).
    with session_scope() as s:
        c = held(s, item.claim_id, item.lease)
        c.state, c.crm_email_id, c.related_to = "logged", crm_id, relations
        c.reason, c.decided_at, c.lease_until, c.lease_owner = None, utcnow(), None, None
        attach.settle(s, c, delivery)  # files still missing: retried with the backoff
        record_participants(s, ctx.org_id, c.id, external, set(matched), item.leads)
    if item.leads:
        ctx.count("logged_to_leads")
    if moved:
        update_threads(ctx, moved, thread_id)


def _provider_id(claim_id: int) -> str:
    with session_scope() as s:
        return s.get(EmailClaim, claim_id).provider_message_id


def _thread_relations(s: Session, org_id: int, thread_id: str, claim_id: int) -> dict | None:
    """A reply that matches nobody inherits what its thread was logged against."""
    row = s.scalars(
        select(EmailClaim)
        .where(
            EmailClaim.org_id == org_id,
            EmailClaim.thread_id == thread_id,
            EmailClaim.state == "logged",
            EmailClaim.id != claim_id,
            EmailClaim.related_to.is_not(None),
        )
        .order_by(EmailClaim.decided_at.desc())
        .limit(1)
    ).first()
    return dict(row.related_to) if row is not None else None
