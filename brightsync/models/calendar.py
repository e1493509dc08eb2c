"""Calendar records: the org-wide claim per meeting and each attendee's copy of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow


class MeetingClaim(Base):
    """One meeting per (organisation, meeting key): the mailbox copy that syncs it.

    The first attendee's sync to see a meeting owns it; the organizer's copy takes it over
    when the organizer is a registered user (`organizer` set), and keeps it. Every other
    attendee only records a MeetingCopy. `crm_event_id` is the one CRM event of the meeting.
    """

    __tablename__ = "meeting_claim"
    __table_args__ = (UniqueConstraint("org_id", "meeting_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    meeting_key: Mapped[str] = mapped_column(String(500))
    owner_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    owner_event_id: Mapped[str] = mapped_column(String(500))
    organizer: Mapped[bool] = mapped_column(default=False)  # the owner's copy is the organizer's
    crm_event_id: Mapped[str | None] = mapped_column(String(200))
    # Waited in the sync cache and now matches: the owner's next run reads it again.
    recheck: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MeetingCopy(Base):
    """An attendee's calendar holds this meeting (under its own event id)."""

    __tablename__ = "meeting_copy"
    __table_args__ = (UniqueConstraint("org_id", "meeting_key", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    meeting_key: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(500))
    organizer: Mapped[bool] = mapped_column(default=False)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
