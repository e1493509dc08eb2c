"""Recording and listing possible duplicate contacts (the grey band of the matcher).

A sync that finds a grey-band pair creates nothing and calls `record_possible_duplicate`;
people see the pairs through `GET /api/v1/orgs/{orgId}/duplicates`. Recording is idempotent
per (org, pair), so a retried task or the next run never adds a second row, and a pair a
person already decided keeps its decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brightsync.models import PossibleDuplicate, utcnow

_MAX_REASONS = 20


def record_key(side: str, record_id: object, user_id: int | None = None) -> str:
    """Stable key of a record: 'crm:<id>', or 'mailbox:<userId>:<id>' for a mailbox contact."""
    if side == "mailbox":
        return f"mailbox:{user_id}:{record_id}"[:255]
    return f"{side}:{record_id}"[:255]


def record_possible_duplicate(
    session: Session,
    org_id: int,
    key_a: str,
    record_a: Mapping[str, Any],
    key_b: str,
    record_b: Mapping[str, Any],
    score: float,
    reasons: Sequence[str],
) -> PossibleDuplicate:
    """Insert the pair for review, or refresh it (records, score, reasons) if already there."""
    if key_b < key_a:
        key_a, key_b, record_a, record_b = key_b, key_a, record_b, record_a
    values = {
        "record_a": dict(record_a),
        "record_b": dict(record_b),
        "score": round(float(score), 4),
        "reasons": [str(r) for r in reasons][:_MAX_REASONS],
    }
    row = _find(session, org_id, key_a, key_b)
    if row is None:
        try:
            with session.begin_nested():  # a concurrent run may insert the same pair
                row = PossibleDuplicate(org_id=org_id, key_a=key_a, key_b=key_b, **values)
                session.add(row)
            return row
        except IntegrityError:
            row = _find(session, org_id, key_a, key_b)
            assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    return row


def _find(session: Session, org_id: int, key_a: str, key_b: str) -> PossibleDuplicate | None:
    return session.scalars(
        select(PossibleDuplicate).where(
            PossibleDuplicate.org_id == org_id,
            PossibleDuplicate.key_a == key_a,
            PossibleDuplicate.key_b == key_b,
        )
    ).one_or_none()


def list_possible_duplicates(
    session: Session, org_id: int, state: str | None = "open", limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """One page of an org's pairs (oldest first) and the total in that state."""
    where = [PossibleDuplicate.org_id == org_id]
    if state is not None:
        where.append(PossibleDuplicate.state == state)
    total = session.scalar(select(func.count()).select_from(PossibleDuplicate).where(*where))
    rows = session.scalars(
        select(PossibleDuplicate)
        .where(*where)
        .order_by(PossibleDuplicate.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [duplicate_out(r) for r in rows], int(total or 0)


def decide_possible_duplicate(
    session: Session, org_id: int, pair_id: int, state: str
) -> PossibleDuplicate | None:
    """Record a person's decision (approved: same person; rejected: two people; open again).

    None when the pair does not belong to the organisation.
    """
    row = session.get(PossibleDuplicate, pair_id)
    if row is None or row.org_id != org_id:
        return None
    if row.state != state:
        row.state = state
        row.decided_at = None if state == "open" else utcnow()
    return row


def duplicate_out(row: PossibleDuplicate) -> dict[str, Any]:
    return {
        "id": row.id,
        "a": {"key": row.key_a, "record": row.record_a},
        "b": {"key": row.key_b, "record": row.record_b},
        "score": row.score,
        "reasons": row.reasons,
        "state": row.state,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "decidedAt": row.decided_at,
    }


def duplicates_panel(session: Session, org_id: int) -> dict[str, Any]:
    """The organisation's status panel of open possible duplicates (the first 20)."""
    items, total = list_possible_duplicates(session, org_id, "open", limit=20)
    return {"count": total, "items": items}
