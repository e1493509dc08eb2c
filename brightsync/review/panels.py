"""The organisation status panels of review: held deletions and possible duplicates."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from brightsync.ops.status import register_org_panel
from brightsync.review.duplicates import list_possible_duplicates
from brightsync.review.held import list_held

PANEL_ITEMS = 20


def held_panel(session: Session, org_id: int) -> dict[str, Any]:
    items, total = list_held(session, org_id, PANEL_ITEMS)
    return {"count": total, "items": items}


def duplicates_panel(session: Session, org_id: int) -> dict[str, Any]:
    items, total = list_possible_duplicates(session, org_id, "open", PANEL_ITEMS)
    return {"count": total, "items": items}


register_org_panel("heldDeletions", held_panel)
register_org_panel("possibleDuplicates", duplicates_panel)
