"""Does a CRM contact have logged activity? (A mailbox deletion then never deletes it.)

Activity is mail this service logged against the contact: a logged claim whose `relatedTo`
names the contact, or whose matched participants include one of the contact's addresses.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from brightsync.models import EmailClaim, EmailParticipant

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
