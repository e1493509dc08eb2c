"""Forgetting a person: their address erased from what BrightSync keeps of an organisation.

Erased: the sync cache (the address leaves each item; an item left with no address is dropped
and its email recorded as not logged), email decisions (the claim's external addresses and
participants, the per-address rows, and the subject of every message they were on), possible
duplicate pairs and review reports that show it, and finished contact-create intents keyed by
it. Not touched: the CRM's records (the CRM's to erase), an open create intent (erasing it
could create the contact twice), and the two-way status rows of contacts still synced (they
mirror records that exist on both sides; erasing the person there is erasing the record).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Text, cast, delete, select
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import (
    CreateIntent,
    EmailClaim,
    EmailParticipant,
    Organisation,
    PossibleDuplicate,
    ReviewReport,
    UnmatchedItem,
)
from brightsync.people.addresses import normalize_address

FORGOTTEN = "(forgotten)"


def without(values: list[Any] | None, address: str) -> list[Any] | None:
    """The list without the address (compared case-insensitively); None stays None."""
    if values is None:
        return None
    return [v for v in values if not (isinstance(v, str) and v.lower() == address)]


def _mentions(column: Any, address: str) -> Any:
    """Rows whose JSON (or text) column holds the address (narrowed in Python after)."""
    return cast(column, Text).contains(address, autoescape=True)


def forget(org_id: int, raw_address: str) -> dict[str, Any] | None:
    """Erase one address from the organisation's records; counts per kind, or None when there
    is no such organisation. Safe to repeat: a second call erases nothing."""
    address = normalize_address(raw_address) or raw_address.strip().lower()
    erased: Counter[str] = Counter()
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return None
        _decisions(s, org_id, address, erased)
        _cache(s, org_id, address, erased)
        erased["emailParticipants"] += s.execute(
            delete(EmailParticipant).where(
                EmailParticipant.org_id == org_id, EmailParticipant.address == address
            )
        ).rowcount
        erased["possibleDuplicates"] += s.execute(
            delete(PossibleDuplicate).where(
                PossibleDuplicate.org_id == org_id,
                _mentions(PossibleDuplicate.record_a, address)
                | _mentions(PossibleDuplicate.record_b, address),
            )
        ).rowcount
        erased["reviewReports"] += s.execute(
            delete(ReviewReport).where(
                ReviewReport.org_id == org_id, _mentions(ReviewReport.report, address)
            )
        ).rowcount
        erased["createIntents"] += s.execute(
            delete(CreateIntent).where(
                CreateIntent.org_id == org_id,
                CreateIntent.kind == "contact",
                CreateIntent.key == address,
                CreateIntent.state.in_(("created", "failed")),
            )
        ).rowcount
    return {"orgId": org_id, "emailAddress": address, "erased": dict(erased)}


def _decisions(s: Session, org_id: int, address: str, erased: Counter[str]) -> None:
    rows = s.scalars(
        select(EmailClaim).where(
            EmailClaim.org_id == org_id,
            _mentions(EmailClaim.addresses, address) | _mentions(EmailClaim.participants, address),
        )
    )
    for claim in rows:
        addresses = without(claim.addresses, address)
        participants = without(claim.participants, address)
        if addresses == claim.addresses and participants == claim.participants:
            continue  # another address merely contains this one
        claim.addresses, claim.participants, claim.subject = addresses, participants, None
        if claim.reason and address in claim.reason.lower():
            claim.reason = claim.reason.lower().replace(address, FORGOTTEN)[:500]
        erased["emailDecisions"] += 1


def _cache(s: Session, org_id: int, address: str, erased: Counter[str]) -> None:
    rows = s.scalars(
        select(UnmatchedItem).where(
            UnmatchedItem.org_id == org_id, _mentions(UnmatchedItem.addresses, address)
        )
    )
    for item in rows:
        left = without(item.addresses, address) or []
        if left == item.addresses:
            continue
        erased["syncCacheItems"] += 1
        if left:
            item.addresses, item.subject = left, None
            continue
        # Waiting for this person alone: nothing is left to wait for.
        if item.kind == "email":
            for claim in s.scalars(
                select(EmailClaim).where(
                    EmailClaim.org_id == org_id,
                    EmailClaim.message_key == item.key,
                    EmailClaim.state == "unmatched",
                )
            ):
                claim.state, claim.reason, claim.subject = "skipped", "forgotten", None
        s.delete(item)
