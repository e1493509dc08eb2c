"""Does a CRM contact have logged activity? (A mailbox deletion then never deletes it.)

Activity is mail this service logged against the contact: a logged claim whose `relatedTo`
names the contact, or whose matched participants include one of the contact's addresses.
Also the "held deletions" panel of the ops status (`ops/status.py` org panels).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brightsync.models import EmailClaim, EmailParticipant, ObjectLink

LOGGED = "logged"


def logged_activity(
    session: Session, org_id: int, contact_id: str, addresses: Iterable[str]
) -> int:
    """How many logged emails involve this CRM contact (0: none): logged claims with one of
    its addresses as a participant, counted when the participant was matched or the claim's
    relatedTo names the contact."""
    wanted = sorted({a.lower() for a in addresses if a})
    if not wanted:
        return 0
    rows = session.execute(
        select(EmailClaim.id, EmailClaim.related_to, EmailParticipant.matched)
        .join(EmailParticipant, EmailParticipant.claim_id == EmailClaim.id)
        .where(
            EmailParticipant.org_id == org_id,
            EmailParticipant.address.in_(wanted),
            EmailClaim.state == LOGGED,
        )
    )
    claims = set()
    for claim_id, related, matched in rows:
        ids = {str(c) for c in (related or {}).get("contacts") or []}
        if matched or str(contact_id) in ids:
            claims.add(claim_id)
    return len(claims)


def held_panel(session: Session, org_id: int) -> dict[str, Any]:
    """Contacts sync links that wait for a person: held deletions and possible duplicates."""
    where = (
        ObjectLink.org_id == org_id,
        ObjectLink.domain == "contacts",
        ObjectLink.error.is_not(None),
        (ObjectLink.held.is_not(None)) | (ObjectLink.blocked.is_not(None)),
    )
    total = session.scalar(select(func.count()).select_from(ObjectLink).where(*where)) or 0
    rows = session.scalars(select(ObjectLink).where(*where).order_by(ObjectLink.id).limit(50))
    return {
        "count": int(total),
        "items": [
            {
                "link": row.id,
                "userId": row.user_id,
                "state": row.state,
                "held": row.held,
                "mailboxId": row.mailbox_id,
                "crmId": row.crm_id,
                "reason": row.error,
                "at": row.error_at.isoformat() if row.error_at else None,
            }
            for row in rows
        ],
    }
