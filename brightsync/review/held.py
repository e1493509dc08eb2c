"""Deletions the mass-deletion guard held: list them, and approve or reject them.

A decision is stored (`HeldDecision`) and a run of the link's user and domain is queued; that
run carries it out under its own lease with its domain's adapter
(`Engine.apply_held_decisions`, before it plans). Approve: the held deletion is made. Reject:
the deletion is dropped for good: the link forgets the side that was deleted, so the surviving
record counts as new there and is created again (restored), where the direction lets it flow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import HELD_DECISIONS, HeldDecision, ObjectLink
from brightsync.sync import scheduler
from brightsync.sync.adapter import CRM, MAILBOX
from brightsync.sync.queue import publish_sync


def held_out(row: ObjectLink, decision: str | None) -> dict[str, Any]:
    side = row.held
    survivor = row.mailbox_fields if side == MAILBOX else row.crm_fields
    return {
        "id": row.id,
        "link": row.id,
        "userId": row.user_id,
        "domain": row.domain,
        "held": side,  # the side whose deletion waits
        "deleteIn": side,
        "deletedIn": CRM if side == MAILBOX else MAILBOX,
        "mailboxId": row.mailbox_id,
        "crmId": row.crm_id,
        "record": survivor or {},
        # Why it waits: the guard's mass deletion, or what the side said (e.g. logged mail).
        "reason": row.error or "many deletions at once (mass-deletion guard)",
        "at": (row.error_at or row.updated_at).isoformat(),
        "decision": decision,
    }


def list_held(
    session: Session, org_id: int, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    where = (ObjectLink.org_id == org_id, ObjectLink.held.is_not(None))
    total = session.scalar(select(func.count()).select_from(ObjectLink).where(*where))
    rows = session.execute(
        select(ObjectLink, HeldDecision.decision)
        .outerjoin(HeldDecision, HeldDecision.link_id == ObjectLink.id)
        .where(*where)
        .order_by(ObjectLink.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [held_out(link, decision) for link, decision in rows], int(total or 0)


def decide(org_id: int, link_ids: list[int], decision: str) -> dict[str, Any]:
    """Record `decision` for the org's held links among `link_ids` and queue their runs."""
    if decision not in HELD_DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(HELD_DECISIONS)}")
    with session_scope() as s:
        rows = list(
            s.scalars(
                select(ObjectLink).where(
                    ObjectLink.id.in_(link_ids),
                    ObjectLink.org_id == org_id,
                    ObjectLink.held.is_not(None),
                )
            )
        )
        for row in rows:
            s.merge(HeldDecision(link_id=row.id, decision=decision))
        found = sorted(r.id for r in rows)
        runs = {(r.user_id, r.domain) for r in rows}
    for user_id, domain in runs:
        scheduler.request_and_publish(user_id, domain, publish_sync)
    return {
        "decision": decision,
        "links": found,
        "notHeld": sorted(set(link_ids) - set(found)),
    }


def held_panel(session: Session, org_id: int) -> dict[str, Any]:
    """The organisation's status panel of held deletions (the first 50)."""
    items, total = list_held(session, org_id, limit=50)
    return {"count": total, "items": items}
