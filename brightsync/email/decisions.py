"""Answer "what happened to this message?" for the admin API, from the claim and sightings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brightsync.email.message import normalize_message_id
from brightsync.email.thread_store import resolve
from brightsync.models import EmailClaim, EmailParticipant, EmailSighting, UnmatchedItem, User


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
        "failures": claim.failures,
        "participants": list(claim.participants or []),
        "waitingUntil": claim.wait_until.isoformat() if claim.wait_until else None,
        "decidedAt": claim.decided_at.isoformat() if claim.decided_at else None,
    }
    out["mailboxEmails"] = _emails(session, out["seenBy"])
    parts = {
        p.address: p
        for p in session.scalars(
            select(EmailParticipant).where(EmailParticipant.claim_id == claim.id)
        )
    }
    external = list(claim.addresses or []) or list(parts)
    out["addresses"] = [_address(a, parts.get(a)) for a in external]
    # Unmatched mail: every external address was looked up and none is a contact (yet).
    out["addressesMatchedNobody"] = [a for a in external if not _matched(parts.get(a))]
    leads = [a["lead"] | {"address": a["address"]} for a in out["addresses"] if "lead" in a]
    if leads:
        out["leads"] = leads
    out["rule"] = _rule(claim.state, claim.reason, leads)
    if cached is not None:
        out["syncCache"] = {
            "attempts": cached.attempts,
            "nextRetryAt": cached.next_retry_at.isoformat(),
            "expiresAt": cached.expires_at.isoformat(),
            "addresses": cached.addresses,
        }
    return out


def _matched(part: EmailParticipant | None) -> bool:
    return part is not None and bool(part.matched)


def _address(address: str, part: EmailParticipant | None) -> dict[str, Any]:
    """One external address: a contact's, or the lead the email was logged against for it."""
    out: dict[str, Any] = {"address": address, "matched": _matched(part)}
    if part is not None and part.lead_id and not part.matched:
        out["lead"] = {"id": part.lead_id, "name": part.lead_name}
    return out


def _rule(state: str, reason: str | None, leads: Sequence[Mapping[str, Any]] = ()) -> str:
    """The rule that decided, in a sentence an operator can act on."""
    if state == "logged" and leads:
        named = ", ".join(f"{ld['name']} ({ld['id']}, {ld['address']})" for ld in leads)
        return (
            f"logged against the CRM lead {named}: no contact has that address yet, so no"
            " contact was created; re-linked to the contact when the lead becomes one"
        )
    if state == "logged":
        return "logged: an external participant is a CRM contact (or was created as one)"
    if state == "unmatched":
        return (
            "waiting in the sync cache: no participant is a CRM contact yet; retried every"
            " unmatched.retryEveryHours"
        )
    if state == "expired":
        return "dropped: no participant became a contact within the cache's retention"
    if state == "skipped" and reason == "private":
        return "skipped: the sender marked it private or confidential (email.logPrivate is off)"
    if state == "skipped":
        return f"skipped by the organisation's email rules: {reason or 'no reason recorded'}"
    if state == "failed":
        return f"failed: {reason or 'see the last error of the owning mailbox'}"
    return f"in progress ({state}); the owning mailbox finishes it"


def _emails(session: Session, user_ids: list[int]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {str(uid): email for uid, email in rows}
