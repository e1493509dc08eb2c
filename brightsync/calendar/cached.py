"""Meetings in the sync cache: released when a contact appears, so the owner reads them again.

The sync cache (`brightsync/sync_cache/`) calls these through the table in
`brightsync.domains.CACHE_KINDS` (kind "meeting", keyed by the meeting key).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import MeetingClaim, User
from brightsync.sync import scheduler


def reopen(session: Session, org_id: int, keys: list[str]) -> list[int]:
    """Matched now: flag the meetings for their owners' next run; returns those owners."""
    where = (MeetingClaim.org_id == org_id, MeetingClaim.meeting_key.in_(keys))
    session.execute(update(MeetingClaim).where(*where).values(recheck=True))
    return sorted(set(session.scalars(select(MeetingClaim.owner_user_id).where(*where))))


def resume(ids: list[int]) -> None:
    """After the cache committed: one calendar run per owner (coalesced with any queued)."""
    queue_runs(ids)


def queue_runs(user_ids: list[int]) -> None:
    """A calendar run for each of these users who syncs their calendar."""
    from brightsync.sync.queue import publish_sync

    with session_scope() as s:
        wanted = [
            u.id
            for u in s.scalars(select(User).where(User.id.in_(user_ids)))
            if "calendar" in (u.services or [])
        ]
    for user_id in wanted:
        scheduler.request_and_publish(user_id, "calendar", publish_sync)


def expire(session: Session, org_id: int, keys: list[str], now: datetime) -> None:
    """Nothing to record: a meeting that never matched simply stays out of the CRM."""


def relink(org_id: int, addresses: set[str]) -> int:
    """Synced meetings carry their contacts from the next change on; nothing to do now."""
    return 0
