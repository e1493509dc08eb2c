"""Answer "what happened to this message?" for the admin API, from the claim and sightings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brightsync.email.rules import normalize_message_id
from brightsync.email.thread_store import resolve
from brightsync.models import EmailClaim, EmailSighting, UnmatchedItem


def describe_message(session: Session, org_id: int, rfc822_msg_id: str) -> dict[str, Any] | None:
    key = normalize_message_id(rfc822_msg_id) or rfc822_msg_id.strip()
    claim = session.scalars(
        select(EmailClaim).where(
            EmailClaim.org_id == org_id,
            or_(EmailClaim.message_key == key, EmailClaim.internet_message_id == key),
        )
    ).first()
    sightings = list(
        session.scalars(
            select(EmailSighting)
            .where(
                EmailSighting.org_id == org_id,
                EmailSighting.message_key == (claim.message_key if claim else key),
            )
            .order_by(EmailSighting.seen_at)
        )
    )
    if claim is None and not sightings:
        return None
    mailboxes = [{"userId": s.user_id, "note": s.note} for s in sightings]
    if claim is None:
        # Only mailbox-local skips so far (every copy was a draft, in junk or in trash).
        return {
            "rfc822MsgId": rfc822_msg_id,
            "logged": False,
            "state": "not claimed",
            "reason": ", ".join(sorted({s.note or "seen" for s in sightings})),
            "crmEmailId": None,
            "syncThreadId": None,
            "relatedTo": None,
            "loggedBy": None,
            "seenBy": [s.user_id for s in sightings],
            "mailboxes": mailboxes,
            "decidedAt": None,
        }
    cached = session.scalars(
        select(UnmatchedItem).where(
            UnmatchedItem.org_id == org_id,
            UnmatchedItem.kind == "email",
            UnmatchedItem.key == claim.message_key,
        )
    ).first()
    out: dict[str, Any] = {
        "rfc822MsgId": rfc822_msg_id,
        "logged": claim.state == "logged",
        "state": claim.state,
        "reason": claim.reason,
        "crmEmailId": claim.crm_email_id,
        "syncThreadId": resolve(session, org_id, claim.thread_id) if claim.thread_id else None,
        "relatedTo": claim.related_to,
        "direction": claim.direction,
        "loggedBy": claim.owner_user_id,
        "seenBy": [claim.owner_user_id]
        + [s.user_id for s in sightings if s.user_id != claim.owner_user_id],
        "mailboxes": [{"userId": claim.owner_user_id, "note": "owner"}] + mailboxes,
        "attempts": claim.attempts,
        "decidedAt": claim.decided_at.isoformat() if claim.decided_at else None,
    }
    if cached is not None:
        out["syncCache"] = {
            "attempts": cached.attempts,
            "nextRetryAt": cached.next_retry_at.isoformat(),
            "expiresAt": cached.expires_at.isoformat(),
            "addresses": cached.addresses,
        }
    return out
