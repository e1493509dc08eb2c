"""Meetings in the sync cache: released when a contact appears, so the owner reads them again.

The sync cache (`brightsync/unmatched/`) calls these by the name registered in
`unmatched.cache.KINDS` (kind "meeting", keyed by the meeting key).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from brightsync.models import MeetingClaim
from brightsync.sync import scheduler


def reopen(session: Session, org_id: int, keys: list[str]) -> list[int]:
    """Matched now: flag the meetings for their owners' next run; returns those owners."""
    where = (MeetingClaim.org_id == org_id, MeetingClaim.meeting_key.in_(keys))
    session.execute(update(MeetingClaim).where(*where).values(recheck=True))
    return sorted(set(session.scalars(select(MeetingClaim.owner_user_id).where(*where))))


def resume(ids: list[int]) -> None:
    """After the cache committed: one calendar run per owner (coalesced with any queued)."""
    from brightsync.sync.jobs import publish_sync

    for user_id in ids:
        scheduler.request_and_publish(user_id, "calendar", publish_sync)


def expire(session: Session, org_id: int, keys: list[str], now: datetime) -> None:
    """Nothing to record: a meeting that never matched simply stays out of the CRM."""


def relink(org_id: int, addresses: set[str]) -> int:
    """Synced meetings carry their contacts from the next change on; nothing to do now."""
    return 0
