"""The org-wide claim on a meeting: one CRM event per meeting per organisation.

Every internal attendee's calendar holds its own copy of a meeting (own event id, same
meeting key). The first sync to see it inserts the claim (unique on org + key) and owns it:
only the owner's run syncs the meeting; every other attendee records a copy and does nothing
else. The organizer's copy is the authority: when the organizer is a registered user, their
copy takes the claim over (once; it is never taken from them). Inserts lose races gracefully
(ON CONFLICT DO NOTHING) and the take-over is a conditional UPDATE, so any number of workers
agree on one owner.

Separate from email's claim (email/claims.py) on purpose: an email claim is a one-shot
logging decision with its own state machine, a meeting claim is a standing ownership that
moves to the organizer and back to an heir when the owner's copy goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from brightsync.db import dialect_insert, session_scope
from brightsync.models import MeetingClaim, MeetingCopy, UnmatchedItem, utcnow


@dataclass(frozen=True)
class MeetingOwnership:
    claim_id: int
    owned: bool  # this user's copy syncs the meeting
    crm_event_id: str | None
    taken_over: bool = False  # the organizer's copy just took the claim from another owner


def claim_meeting(
    session: Session,
    *,
    org_id: int,
    user_id: int,
    key: str,
    event_id: str,
    organizer: bool,
    subject: str | None = None,
) -> MeetingOwnership:
    """Record this user's copy and return who syncs the meeting."""
    insert = dialect_insert(session)
    now = utcnow()
    session.execute(
        insert(MeetingCopy)
        .values(
            org_id=org_id,
            meeting_key=key,
            user_id=user_id,
            event_id=event_id,
            organizer=organizer,
            seen_at=now,
        )
        .on_conflict_do_update(
            index_elements=["org_id", "meeting_key", "user_id"],
            set_={"event_id": event_id, "organizer": organizer},
        )
    )
    inserted = session.execute(
        insert(MeetingClaim)
        .values(
            org_id=org_id,
            meeting_key=key,
            owner_user_id=user_id,
            owner_event_id=event_id,
            organizer=organizer,
            subject=(subject or "")[:500] or None,
            claimed_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "meeting_key"])
        .returning(MeetingClaim.id)
    ).scalar()
    if inserted is not None:
        return MeetingOwnership(inserted, True, None)
    c = session.execute(
        select(MeetingClaim).where(MeetingClaim.org_id == org_id, MeetingClaim.meeting_key == key)
    ).scalar_one()
    if c.owner_user_id == user_id:
        if c.owner_event_id != event_id or (organizer and not c.organizer):
            c.owner_event_id, c.organizer = event_id, c.organizer or organizer
        return MeetingOwnership(c.id, True, c.crm_event_id)
    if organizer and not c.organizer:
        took = session.execute(
            update(MeetingClaim)
            .where(MeetingClaim.id == c.id, MeetingClaim.organizer.is_(False))
            .values(owner_user_id=user_id, owner_event_id=event_id, organizer=True, updated_at=now)
        ).rowcount
        if took == 1:
            return MeetingOwnership(c.id, True, c.crm_event_id, taken_over=True)
    return MeetingOwnership(c.id, False, c.crm_event_id)


def owned_keys(session: Session, user_id: int, keys: list[str]) -> set[str]:
    """Which of these meeting keys this user syncs (one query for a page of events)."""
    if not keys:
        return set()
    return set(
        session.scalars(
            select(MeetingClaim.meeting_key).where(
                MeetingClaim.owner_user_id == user_id, MeetingClaim.meeting_key.in_(keys)
            )
        )
    )


def crm_event_of(session: Session, org_id: int, key: object) -> str | None:
    """The CRM event recorded for a meeting key (None: no key, no claim, or none yet)."""
    if not isinstance(key, str):
        return None
    return session.scalar(
        select(MeetingClaim.crm_event_id).where(
            MeetingClaim.org_id == org_id, MeetingClaim.meeting_key == key
        )
    )


def set_crm_event(session: Session, org_id: int, key: str, crm_event_id: str | None) -> None:
    session.execute(
        update(MeetingClaim)
        .where(MeetingClaim.org_id == org_id, MeetingClaim.meeting_key == key)
        .values(crm_event_id=crm_event_id, updated_at=utcnow())
    )


def forget_crm_event(session: Session, org_id: int, crm_event_id: str) -> None:
    """The CRM event is deleted: no meeting points at it any more."""
    session.execute(
        update(MeetingClaim)
        .where(MeetingClaim.org_id == org_id, MeetingClaim.crm_event_id == crm_event_id)
        .values(crm_event_id=None)
    )


def crm_owners(org_id: int, crm_event_ids: list[str]) -> dict[str, int]:
    """Who syncs each of these CRM events (those a meeting claim created)."""
    if not crm_event_ids:
        return {}
    with session_scope() as s:
        rows = s.execute(
            select(MeetingClaim.crm_event_id, MeetingClaim.owner_user_id).where(
                MeetingClaim.org_id == org_id, MeetingClaim.crm_event_id.in_(crm_event_ids)
            )
        )
        return {crm_id: owner for crm_id, owner in rows}


def released_events(session: Session, user_id: int) -> list[str]:
    """This user's event ids of the meetings flagged to be read again (the sync cache released
    them, or the user inherited them)."""
    return list(
        session.scalars(
            select(MeetingClaim.owner_event_id).where(
                MeetingClaim.owner_user_id == user_id, MeetingClaim.recheck.is_(True)
            )
        )
    )


def rechecked(org_id: int, keys: list[str]) -> None:
    """These meetings were read again after the sync cache released them."""
    if not keys:
        return
    with session_scope() as s:
        s.execute(
            update(MeetingClaim)
            .where(
                MeetingClaim.org_id == org_id,
                MeetingClaim.meeting_key.in_(keys),
                MeetingClaim.recheck.is_(True),
            )
            .values(recheck=False)
        )


def copy_gone(session: Session, org_id: int, user_id: int, key: str) -> int | None:
    """This user's copy of the meeting is gone (deleted, declined away). If they owned the
    meeting, it passes to another copy (an organizer's first, else the oldest); returns the
    heir's user id, or None when nobody else holds it (the meeting itself is gone)."""
    session.execute(
        delete(MeetingCopy).where(
            MeetingCopy.org_id == org_id,
            MeetingCopy.meeting_key == key,
            MeetingCopy.user_id == user_id,
        )
    )
    c = session.execute(
        select(MeetingClaim)
        .where(MeetingClaim.org_id == org_id, MeetingClaim.meeting_key == key)
        .with_for_update()
    ).scalar_one_or_none()
    if c is None or c.owner_user_id != user_id:
        return None
    heir = session.scalars(
        select(MeetingCopy)
        .where(MeetingCopy.org_id == org_id, MeetingCopy.meeting_key == key)
        .order_by(MeetingCopy.organizer.desc(), MeetingCopy.seen_at, MeetingCopy.id)
        .limit(1)
    ).first()
    if heir is None:
        session.delete(c)
        return None
    c.owner_user_id, c.owner_event_id, c.organizer = heir.user_id, heir.event_id, heir.organizer
    c.recheck = True  # the heir's calendar reported it already: its next run reads it again
    return heir.user_id


def copies_gone(
    org_id: int, user_id: int, event_ids: list[str], occurrence: str
) -> tuple[set[str], set[int]]:
    """These events (and their occurrences, ``<id><occurrence>...``) left this user's
    calendar: each copy of a meeting goes (`copy_gone`). Returns the event ids whose meeting a
    colleague inherited, and those colleagues."""
    inherited: set[str] = set()
    heirs: set[int] = set()
    with session_scope() as s:
        for start in range(0, len(event_ids), 200):
            chunk = event_ids[start : start + 200]
            rows = s.execute(
                select(MeetingCopy.meeting_key, MeetingCopy.event_id).where(
                    MeetingCopy.org_id == org_id,
                    MeetingCopy.user_id == user_id,
                    or_(
                        MeetingCopy.event_id.in_(chunk),
                        *(MeetingCopy.event_id.startswith(g + occurrence) for g in chunk),
                    ),
                )
            ).all()
            for key, event_id in rows:
                heir = copy_gone(s, org_id, user_id, key)
                if heir is not None:
                    inherited.add(event_id)
                    heirs.add(heir)
    return inherited, heirs


def describe_meeting(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
    """Why a meeting is (or is not) in the CRM: its owner, its copies, the sync cache."""
    c = session.execute(
        select(MeetingClaim).where(MeetingClaim.org_id == org_id, MeetingClaim.meeting_key == key)
    ).scalar_one_or_none()
    if c is None:
        return None
    copies = session.scalars(
        select(MeetingCopy)
        .where(MeetingCopy.org_id == org_id, MeetingCopy.meeting_key == key)
        .order_by(MeetingCopy.seen_at, MeetingCopy.id)
    )
    waiting = session.execute(
        select(UnmatchedItem).where(
            UnmatchedItem.org_id == org_id,
            UnmatchedItem.kind == "meeting",
            UnmatchedItem.key == key,
        )
    ).scalar_one_or_none()
    out: dict[str, Any] = {
        "subject": c.subject,
        "syncedBy": c.owner_user_id,
        "organizerCopy": c.organizer,
        "crmEventId": c.crm_event_id,
        "copies": [
            {"userId": m.user_id, "eventId": m.event_id, "organizer": m.organizer} for m in copies
        ],
    }
    if waiting is not None:
        out["syncCache"] = {
            "reason": waiting.reason,
            "addresses": list(waiting.addresses or []),
            "nextRetryAt": waiting.next_retry_at.isoformat(),
            "expiresAt": waiting.expires_at.isoformat(),
        }
    return out
