"""Emails in the sync cache: what the cache does when their contact appears or time runs out.

The sync cache (`brightsync/sync_cache/`) knows no kind; it calls these through the kind
`email` that `brightsync/domains.py` hands it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.email.context import load_context
from brightsync.email.finish import finish_claims
from brightsync.email.relink import relink as relink_owned
from brightsync.models import EmailClaim, EmailParticipant


def reopen(session: Session, org_id: int, keys: list[str]) -> list[int]:
    """Matched now: the email's claim goes back to work (its owner loads and logs it)."""
    ids = list(
        session.scalars(
            select(EmailClaim.id).where(
                EmailClaim.org_id == org_id,
                EmailClaim.message_key.in_(keys),
                EmailClaim.state == "unmatched",
            )
        )
    )
    if ids:
        session.execute(
            update(EmailClaim)
            .where(EmailClaim.id.in_(ids))
            .values(
                state="claimed", reason="contact found in the sync cache retry", lease_until=None
            )
        )
    return ids


def resume(ids: list[int]) -> None:
    """After the cache committed: log the reopened emails."""
    finish_claims(ids)


def expire(session: Session, org_id: int, keys: list[str], now: datetime) -> None:
    """Past retention: the emails are recorded as expired, with the reason; what the cache
    kept to retry them (their outside addresses, their subject) goes with the item."""
    expiring = select(EmailClaim.id).where(
        EmailClaim.org_id == org_id,
        EmailClaim.message_key.in_(keys),
        EmailClaim.state == "unmatched",
    )
    session.execute(delete(EmailParticipant).where(EmailParticipant.claim_id.in_(expiring)))
    session.execute(
        update(EmailClaim)
        .where(
            EmailClaim.org_id == org_id,
            EmailClaim.message_key.in_(keys),
            EmailClaim.state == "unmatched",
        )
        .values(
            state="expired",
            reason="no contact appeared within the retention",
            decided_at=now,
            addresses=None,
            participants=None,
            subject=None,
        )
    )


def relink(org_id: int, addresses: set[str]) -> int:
    """Emails already logged without these addresses' contacts get them attached."""
    with session_scope() as s:
        owners = defaultdict(set)
        for owner, address in s.execute(
            select(EmailClaim.owner_user_id, EmailParticipant.address)
            .join(EmailParticipant, EmailParticipant.claim_id == EmailClaim.id)
            .where(
                EmailClaim.org_id == org_id,
                EmailClaim.state == "logged",
                EmailClaim.owner_user_id.is_not(None),  # a removed mailbox's: nobody re-links
                EmailParticipant.matched.is_(False),
                EmailParticipant.address.in_(sorted(addresses)),
            )
        ):
            owners[owner].add(address)
    relinked = 0
    for owner, owned in owners.items():
        ctx = load_context(owner)
        try:
            relinked += relink_owned(ctx, owned)
        finally:
            ctx.close()
    return relinked
