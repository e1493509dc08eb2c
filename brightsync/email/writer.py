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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select

from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.http import AuthError, FinalError, NotFoundError, TransientError
from brightsync.config import get_settings
from brightsync.crm.matching import contact_addresses
from brightsync.db import after_commit, session_scope
from brightsync.email import claims
from brightsync.email.content import attachment_metadata, build_crm_email, text_and_html
from brightsync.email.context import EmailContext
from brightsync.email.rules import (
    LOG_INTERNAL,
    MAILBOX_LOCAL_REASONS,
    Decision,
    classify,
    copy_participants,
    creation_candidates,
    with_hidden,
)
from brightsync.email.thread_store import assign_thread
from brightsync.models import EmailClaim, EmailParticipant, utcnow
from brightsync.sync import creates, leases
from brightsync.unmatched import cache

log = logging.getLogger(__name__)

ATTACHMENT_CONTENT_CAP = 256 * 1024
# Countdowns stay well under the Redis broker's visibility timeout (1 h), which would
# otherwise redeliver a task still waiting for its ETA.
RETRY_CAP = timedelta(minutes=30)


T = TypeVar("T")


@dataclass
class Work:
    claim_id: int
    msg: dict[str, Any] | None = None  # as seen in the sync page (may lack the body)
    decision: Decision | None = None
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> contact
    lease: str = ""  # the fencing token this worker holds the claim with


def _needs_body(msg: dict[str, Any]) -> bool:
    omitted = msg.get("omitted") or []
    return "body" in omitted or msg.get("body") is None


def retry_delay(attempts: int) -> timedelta:
    base = timedelta(seconds=get_settings().retry_base_seconds)
    return min(RETRY_CAP, base * (2 ** max(0, attempts - 1)))


def share_out(items: list[T], chunk: int) -> tuple[list[T], list[list[T]]]:
    """(what this worker finishes itself, parts for tasks): up to `chunk` items stay here;
    more are split into as few parts of at most `chunk` as possible, of even sizes, and
    nothing stays (the run goes on reading while other workers write)."""
    chunk = max(1, chunk)
    if len(items) <= chunk:
        return items, []
    count = -(-len(items) // chunk)  # ceil
    size, extra = divmod(len(items), count)
    parts, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        parts.append(items[start:end])
        start = end
    return [], parts


def hand_out(ctx: EmailContext, owned: list[Work], owner: str) -> list[Work]:
    """Publish a run's owned claims for other workers when there are more than
    BRIGHTSYNC_EMAIL_CHUNK of them; what the run still writes itself.

    One run per mailbox is too coarse a unit when one mailbox owns most of a backlog (a first
    sync, a burst of mail that mailbox saw first): its writes would wait on each other's
    network round trips while other workers sit idle. Each part is leased to its task (see
    claims.pass_lease) and finished by process_claims, fenced like any other claim work; a
    part costs one contact and one opportunity lookup, as the run's own batch would.
    """
    keep, parts = share_out(owned, get_settings().email_chunk)
    for part in parts:
        task_owner = leases.new_owner()
        with session_scope() as s:
            ids = claims.pass_lease(s, [w.claim_id for w in part], owner, task_owner)
            if ids:
                _requeue(s, ids, owner=task_owner)
        ctx.count("handed_out", len(ids))
    return keep


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
            if claims.take_for_work(s, item.claim_id, owner):
                item.lease = owner
                leased.append(item)
    if not leased:
        return
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
                _defer(ctx, [w.claim_id for w in ready[index:]], exc, owner)
                return
            except leases.LeaseLost:
                log.warning("claim %s was taken over by another worker; leaving it", item.claim_id)
                ctx.count("lease_lost")
            except FinalError as exc:
                _fail(ctx, item.claim_id, exc, lease=item.lease)  # this record only: go on
        created = {a for c in ctx.matcher.created_contacts for a in contact_addresses(c)}
        if created:
            try:
                relink(ctx, created)
            except (TransientError, FinalError) as exc:
                # Best effort: the contact watch re-links these later.
                log.warning("re-linking mail to new contacts failed: %s", exc)
    except TokenDeadError:
        for w in leased:
            _hand_over(ctx, w.claim_id, "owner mailbox needs re-authorisation", owner)
        raise
    except (TransientError, AuthError) as exc:
        # AuthError: the CRM refuses our credentials, which is no fault of one record; the
        # items wait (with backoff) for the connection to be fixed.
        _defer(ctx, [w.claim_id for w in leased], exc, owner)


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
                _hand_over(ctx, item.claim_id, "message gone from the owner's mailbox", item.lease)
                continue
            except AuthError:
                raise
            except FinalError as exc:
                _fail(ctx, item.claim_id, exc, who="the mailbox", lease=item.lease)
                continue
        if item.decision is None or not known <= copy_participants(item.msg):
            item.msg = with_hidden(item.msg, known)
            item.decision = classify(item.msg, ctx.policy)
        if not item.decision.should_log and item.decision.reason in MAILBOX_LOCAL_REASONS:
            # This copy is in the owner's trash (junk, drafts): that says nothing about the
            # message. A colleague's copy may still be logged.
            _hand_over(ctx, item.claim_id, item.decision.reason, item.lease)
            continue
        if not item.decision.should_log:
            try:
                with session_scope() as s:
                    c = claims.held(s, item.claim_id, item.lease)
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
    contacts: list[dict[str, Any]] = []
    kept: list[Work] = []
    for w in ready:
        assert w.decision is not None
        try:
            w.matched = ctx.matcher.match([p.address for p in w.decision.external])
            missing = [
                p for p in creation_candidates(w.decision, ctx.policy) if p.address not in w.matched
            ]
            if missing:
                created = ctx.matcher.ensure_contacts(missing)
                w.matched.update(created)
                ctx.count("contacts_linked_or_created", len(created))
        except FinalError as exc:
            if isinstance(exc, AuthError):
                raise
            _fail(ctx, w.claim_id, exc, what="contact lookup", lease=w.lease)
            continue
        kept.append(w)
        contacts.extend(w.matched.values())
    if ctx.matcher.prefetch_opportunities(_unique_contacts(contacts)):
        return kept
    # The batched opportunity lookup was refused: each message asks for its own contacts'
    # deals, and a refusal fails only the message it was for.
    still: list[Work] = []
    for w in kept:
        try:
            if w.matched:
                ctx.matcher.relations(_unique_contacts(list(w.matched.values())))
        except FinalError as exc:
            if isinstance(exc, AuthError):
                raise
            _fail(ctx, w.claim_id, exc, what="opportunity lookup", lease=w.lease)
            continue
        still.append(w)
    return still


def _unique_contacts(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for c in contacts:
        seen.setdefault(str(c.get("id")), c)
    return list(seen.values())


def _finish(ctx: EmailContext, item: Work) -> None:
    msg, decision = item.msg, item.decision
    assert msg is not None and decision is not None
    matched = item.matched
    external = [p.address for p in decision.external]
    with session_scope() as s:
        c = claims.held(s, item.claim_id, item.lease)
        if not decision.truncated and not set(c.participants or ()) <= copy_participants(msg):
            # Another copy showed participants this decision did not see (the sender's Bcc)
            # since it was made: decide again on everything known before writing anything.
            c.lease_until = c.lease_owner = None
            _requeue(s, [item.claim_id])
            ctx.count("redecided")
            return
        thread_id, moved = assign_thread(s, ctx.org_id, msg, ctx.account_id)
        c.thread_id = thread_id
        c.addresses = external[:200]
        relations = (
            ctx.matcher.relations(_unique_contacts(list(matched.values()))) if matched else None
        )
        if relations is None:
            relations = _thread_relations(s, ctx.org_id, thread_id, c.id)
        if relations is None and decision.reason == LOG_INTERNAL:
            relations = {"contacts": [], "companies": [], "opportunities": []}
        if relations is None:
            c.state, c.reason = "unmatched", "no matching contact"
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
            _participants(s, ctx.org_id, c.id, external, set())
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
            _hand_over(ctx, item.claim_id, "message gone from the owner's mailbox", item.lease)
            return
        ctx.count("body_loads")
        msg = {**msg, **full}
    text, html = text_and_html(msg)
    payload = build_crm_email(
        msg,
        thread_id=thread_id,
        related_to=relations,
        text_body=text,
        html_body=html,
        attachments=attachment_metadata(msg.get("attachments"), ATTACHMENT_CONTENT_CAP),
    )
    if not payload.get("rfc822MsgId"):
        # No Message-ID: a stable synthetic one keeps look-before-create possible.
        payload["rfc822MsgId"] = crm_msg_id(rfc_key)
    try:
        # The claim is the intent: attempts > 1 means an earlier attempt may have been sent.
        made = creates.attempt_create(
            lambda key: ctx.crm.create_email(payload, idempotency_key=key),
            lambda: _logged_email(ctx, payload["rfc822MsgId"]),
            key=creates.idempotency_key("email", ctx.org_id, rfc_key),
            look_first=attempts > 1,
        )
        crm_id = made.remote_id
        ctx.count("found_existing" if made.adopted else "logged")
    except FinalError as exc:
        with session_scope() as s:
            c = claims.held(s, item.claim_id, item.lease)
            c.state, c.reason = "failed", f"CRM refused: {exc.message}"[:500]
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
        ctx.count("failed")
        return
    # The outcome is fenced: a worker that lost the claim meanwhile records nothing (the new
    # owner's attempt > 1 looks the email up by rfc822MsgId and finds this one).
    with session_scope() as s:
        c = claims.held(s, item.claim_id, item.lease)
        c.state, c.crm_email_id, c.related_to = "logged", crm_id, relations
        c.reason, c.decided_at, c.lease_until, c.lease_owner = None, utcnow(), None, None
        _participants(s, ctx.org_id, c.id, external, set(matched))
    if moved:
        _update_threads(ctx, moved, thread_id)


def crm_msg_id(message_key: str) -> str:
    """The rfc822MsgId a claim's email carries in the CRM (what look-ups ask for)."""
    if message_key.startswith("digest:"):
        return f"<{message_key.removeprefix('digest:')}@brightsync.invalid>"
    return f"<{message_key}>"


def _logged_email(ctx: EmailContext, rfc822_msg_id: str) -> dict[str, Any] | None:
    """The email an earlier attempt may have logged (None when the CRM cannot be asked)."""
    if not ctx.matcher.caps.email_lookup:
        return None
    found = ctx.crm.find_emails(rfc822_msg_id)
    return found[0] if found else None


def _provider_id(claim_id: int) -> str:
    with session_scope() as s:
        return s.get(EmailClaim, claim_id).provider_message_id


def _thread_relations(s: Any, org_id: int, thread_id: str, claim_id: int) -> dict | None:
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


def _participants(
    s: Any, org_id: int, claim_id: int, addresses: list[str], matched: set[str]
) -> None:
    existing = {
        p.address: p
        for p in s.scalars(select(EmailParticipant).where(EmailParticipant.claim_id == claim_id))
    }
    for addr in dict.fromkeys(addresses[:200]):
        if addr in existing:
            existing[addr].matched = addr in matched
        else:
            s.add(
                EmailParticipant(
                    org_id=org_id, claim_id=claim_id, address=addr, matched=addr in matched
                )
            )


def _update_threads(ctx: EmailContext, crm_ids: list[str], thread_id: str) -> None:
    if not ctx.matcher.caps.email_update:
        return
    for crm_id in crm_ids:
        try:
            ctx.crm.update_email(crm_id, {"syncThreadId": thread_id})
        except FinalError as exc:
            log.warning("could not move email %s to merged thread: %s", crm_id, exc.message)


def relink(ctx: EmailContext, addresses: set[str]) -> int:
    """Emails already logged with a participant who now has a contact get it in relatedTo."""
    if not ctx.matcher.caps.email_update or not addresses:
        return 0
    with session_scope() as s:
        rows = s.execute(
            select(EmailClaim.id, EmailClaim.crm_email_id, EmailClaim.related_to)
            .join(EmailParticipant, EmailParticipant.claim_id == EmailClaim.id)
            .where(
                EmailParticipant.org_id == ctx.org_id,
                EmailParticipant.address.in_(sorted(addresses)),
                EmailParticipant.matched.is_(False),
                EmailClaim.state == "logged",
            )
        ).all()
    updated = 0
    for claim_id, crm_id, related in {r.id: r for r in rows}.values():
        with session_scope() as s:
            addrs = list(
                s.scalars(
                    select(EmailParticipant.address).where(EmailParticipant.claim_id == claim_id)
                )
            )
        ctx.crm.forget(addrs)
        matched = ctx.matcher.match(addrs)
        fresh = ctx.matcher.relations(_unique_contacts(list(matched.values())))
        merged = {
            k: list(dict.fromkeys((related or {}).get(k, []) + fresh.get(k, [])))
            for k in ("contacts", "companies", "opportunities")
        }
        try:
            ctx.crm.update_email(crm_id, {"relatedTo": merged})
        except FinalError as exc:
            log.warning("re-link of email %s refused: %s", crm_id, exc.message)
            continue
        with session_scope() as s:
            c = s.get(EmailClaim, claim_id)
            c.related_to = merged
            _participants(s, ctx.org_id, claim_id, addrs, set(matched))
        updated += 1
    ctx.count("relinked", updated)
    return updated


def late_participants(ctx: EmailContext, revealed: dict[int, frozenset[str]]) -> int:
    """Logged emails whose later copy showed more people (the sender's Bcc): link them too.

    An excluded address seen only now cannot be unlogged; the claim says so instead.
    """
    addresses: set[str] = set()
    with session_scope() as s:
        for claim_id, found in revealed.items():
            c = s.get(EmailClaim, claim_id)
            if c is None or c.state != "logged":
                continue
            external = sorted(a for a in found if not ctx.policy.is_internal(a))
            if any(ctx.policy.is_excluded(a) for a in external):
                c.reason = "logged before the sender's copy showed an excluded address"
                log.warning("claim %s: an excluded address was revealed after logging", c.id)
                continue
            c.addresses = list(dict.fromkeys([*(c.addresses or []), *external]))[:200]
            _participants(s, ctx.org_id, c.id, external, set())
            addresses.update(external)
    if not addresses:
        return 0
    try:
        return relink(ctx, addresses)
    except (TransientError, FinalError) as exc:
        log.warning("linking late participants failed: %s", exc)
        return 0


def _defer(ctx: EmailContext, claim_ids: list[int], exc: Exception, owner: str) -> None:
    """Retry later, each item after its own backoff: it grows with that item's failures.

    Until its retry is due a claim is leased to the retry task; should that task be lost, the
    lease lapses at the retry time and the sweeper republishes the claim.
    """
    log.warning("deferring %d claim(s) after transient error: %s", len(claim_ids), exc)
    by_delay: dict[float, list[int]] = defaultdict(list)
    retry_owners: dict[float, str] = {}
    with session_scope() as s:
        for claim_id in claim_ids:
            try:
                c = claims.held(s, claim_id, owner)
            except leases.LeaseLost:
                continue
            c.failures = (c.failures or 0) + 1
            delay = retry_delay(c.failures)
            c.reason = f"will retry: {exc}"[:500]
            seconds = delay.total_seconds()
            c.lease_until = utcnow() + delay
            c.lease_owner = retry_owners.setdefault(seconds, leases.new_owner())
            by_delay[seconds].append(claim_id)
        for seconds, ids in by_delay.items():
            _requeue(s, ids, countdown=seconds, owner=retry_owners[seconds])
    ctx.count("deferred", len(claim_ids))


def _requeue(s: Any, claim_ids: list[int], countdown: float = 0, owner: str | None = None) -> None:
    """Publish the claims' task after commit; `owner` is the lease they were passed to."""
    from brightsync.email.jobs import process_claims

    after_commit(
        s, lambda: process_claims.apply_async(args=[claim_ids, owner], countdown=countdown)
    )


def _fail(
    ctx: EmailContext,
    claim_id: int,
    exc: FinalError,
    what: str = "",
    who: str = "CRM",
    *,
    lease: str,
) -> None:
    """A final refusal concerns this record only: record it with the reason, move on."""
    where = f" ({what})" if what else ""
    log.warning("claim %s failed for good%s: %s", claim_id, where, exc)
    try:
        with session_scope() as s:
            c = claims.held(s, claim_id, lease)
            c.state, c.reason = "failed", f"{who} refused{where}: {exc.message}"[:500]
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
    except leases.LeaseLost:
        return
    ctx.count("failed")


def _hand_over(ctx: EmailContext, claim_id: int, reason: str, owner: str) -> None:
    from brightsync.email.jobs import process_claims

    with session_scope() as s:
        try:
            c = claims.held(s, claim_id, owner)
        except leases.LeaseLost:
            return
        # An earlier attempt recorded its intent: its create may have reached the CRM.
        maybe_created, key = c.attempts > 0, c.message_key
        inherited = claims.hand_over(s, claim_id, reason)
        if inherited:
            after_commit(s, lambda: process_claims.delay([claim_id]))
    ctx.count("handed_over")
    if not inherited and maybe_created:
        _adopt_orphan(ctx, claim_id, key)


def _adopt_orphan(ctx: EmailContext, claim_id: int, message_key: str) -> None:
    """No copy is left to finish the claim, but the email may be in the CRM: look it up.

    Found -> the claim is logged with that record; not found (or the CRM cannot be asked)
    -> it stays orphaned, to be adopted if a copy comes back.
    """
    try:
        found = _logged_email(ctx, crm_msg_id(message_key))
    except (TransientError, FinalError) as exc:
        log.warning(
            "claim %s: looking for its email after the last copy went failed: %s", claim_id, exc
        )
        return
    if not found or found.get("id") in (None, ""):
        return
    with session_scope() as s:
        if claims.adopt_orphan(s, claim_id, str(found["id"]), found.get("relatedTo")):
            ctx.count("found_existing")
