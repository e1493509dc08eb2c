"""What becomes of a claim its worker cannot log now: retried later (a CRM outage), failed
for good (this record only), or handed over to another mailbox's copy (this one is gone)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from brightsync.clients.http import FinalError, TransientError
from brightsync.config import get_settings
from brightsync.db import session_scope
from brightsync.email import claims
from brightsync.email.claim_leases import handed_owner, held
from brightsync.email.context import EmailContext
from brightsync.email.queue import publish_after_commit
from brightsync.email.relink import crm_msg_id, logged_email
from brightsync.models import utcnow
from brightsync.sync import leases

log = logging.getLogger(__name__)

# Countdowns stay well under the Redis broker's visibility timeout (1 h), which would
# otherwise redeliver a task still waiting for its ETA.
RETRY_CAP = timedelta(minutes=30)


def retry_delay(attempts: int) -> timedelta:
    base = timedelta(seconds=get_settings().retry_base_seconds)
    return min(RETRY_CAP, base * (2 ** max(0, attempts - 1)))


def defer(ctx: EmailContext, claim_ids: list[int], exc: Exception, owner: str) -> None:
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
                c = held(s, claim_id, owner)
            except leases.LeaseLost:
                continue
            c.failures = (c.failures or 0) + 1
            delay = retry_delay(c.failures)
            c.reason = f"will retry: {exc}"[:500]
            seconds = delay.total_seconds()
            c.lease_until = utcnow() + delay
            c.lease_owner = retry_owners.setdefault(seconds, handed_owner())
            by_delay[seconds].append(claim_id)
        for seconds, ids in by_delay.items():
            publish_after_commit(s, ids, owner=retry_owners[seconds], countdown=seconds)
    ctx.count("deferred", len(claim_ids))


def fail(
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
            c = held(s, claim_id, lease)
            c.state, c.reason = "failed", f"{who} refused{where}: {exc.message}"[:500]
            c.decided_at, c.lease_until, c.lease_owner = utcnow(), None, None
    except leases.LeaseLost:
        return
    ctx.count("failed")


def hand_over(ctx: EmailContext, claim_id: int, reason: str, owner: str) -> None:
    with session_scope() as s:
        try:
            c = held(s, claim_id, owner)
        except leases.LeaseLost:
            return
        # An earlier attempt recorded its intent: its create may have reached the CRM.
        maybe_created, key = c.attempts > 0, c.message_key
        inherited = claims.hand_over(s, claim_id, reason)
        if inherited:
            publish_after_commit(s, [claim_id])
    ctx.count("handed_over")
    if not inherited and maybe_created:
        _adopt_orphan(ctx, claim_id, key)


def _adopt_orphan(ctx: EmailContext, claim_id: int, message_key: str) -> None:
    """No copy is left to finish the claim, but the email may be in the CRM: look it up.

    Found -> the claim is logged with that record; not found (or the CRM cannot be asked)
    -> it stays orphaned, to be adopted if a copy comes back.
    """
    try:
        found = logged_email(ctx, crm_msg_id(message_key))
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
