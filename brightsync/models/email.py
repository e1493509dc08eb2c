"""Email logging records: the org-wide claim per message, who else held it, global threads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow


class EmailClaim(Base):
    """The one decision per (organisation, message key).

    The unique key is the dedup: the first mailbox to insert it owns the message; every other
    mailbox only records an EmailSighting. state: claimed -> logged | skipped | unmatched |
    failed; a claim whose owner cannot finish is handed to another holder. A colleague's copy
    of mail sent by a registered user is "waiting" (until `wait_until`) for the sender's copy,
    the only one that shows Bcc.
    """

    __tablename__ = "email_claim"
    __table_args__ = (
        UniqueConstraint("org_id", "message_key"),
        Index("ix_email_claim_rfc822", "org_id", "internet_message_id"),
        Index("ix_email_claim_state", "state", "lease_until"),
        # The sweeper's "waits that are over" (state, wait_until <= now): O(due), not O(waiting).
        Index("ix_email_claim_waits", "state", "wait_until"),
        Index("ix_email_claim_lease_owner", "lease_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    message_key: Mapped[str] = mapped_column(String(255))
    internet_message_id: Mapped[str | None] = mapped_column(String(998))
    # NULL once its owner left with no colleague holding a copy: the decision stays on record
    # (an email logged is never logged again by a mailbox that sees it later).
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    provider_message_id: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default="claimed")
    reason: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(500))
    direction: Mapped[str | None] = mapped_column(String(10))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    crm_email_id: Mapped[str | None] = mapped_column(String(200))
    related_to: Mapped[dict[str, Any] | None] = mapped_column()
    addresses: Mapped[list[Any] | None] = mapped_column()  # external participants
    attempts: Mapped[int] = mapped_column(default=0)  # create intents recorded
    # Deferrals of this item, whatever step failed: its retry backoff grows with them.
    failures: Mapped[int] = mapped_column(default=0)
    # Every address the decision saw, across copies (a later copy that shows more reopens it).
    participants: Mapped[list[Any] | None] = mapped_column()
    wait_until: Mapped[datetime | None] = mapped_column()  # while "waiting"
    # A logged email's attachment files still to deliver (JSON list of file keys, see
    # email/files.py); set only while a retry is due, so a logged claim with it is still work.
    files_missing: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(64))  # fencing token of the worker
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class EmailSighting(Base):
    """A mailbox that holds a claimed message: no body load, no CRM call, just the fact."""

    __tablename__ = "email_sighting"
    __table_args__ = (UniqueConstraint("org_id", "message_key", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    message_key: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str] = mapped_column(String(500))
    # Why this copy was not used (e.g. "trash", "draft": reasons local to one mailbox), if any.
    note: Mapped[str | None] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadKey(Base):
    """Message-ID (or provider thread key) -> global thread id, union across the org."""

    __tablename__ = "thread_key"
    __table_args__ = (
        UniqueConstraint("org_id", "key"),
        Index("ix_thread_key_thread", "org_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadAlias(Base):
    """A thread id that was merged into another: old CRM rows keep resolving to the survivor."""

    __tablename__ = "thread_alias"
    __table_args__ = (UniqueConstraint("org_id", "old_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    old_id: Mapped[str] = mapped_column(String(64))
    new_id: Mapped[str] = mapped_column(String(64))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailParticipant(Base):
    """External address of a logged or cached email: finds what to re-link or retry by address,
    and the lead it was logged against while that person was no contact."""

    __tablename__ = "email_participant"
    __table_args__ = (
        UniqueConstraint("claim_id", "address"),
        Index("ix_email_participant_address", "org_id", "address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    claim_id: Mapped[int] = mapped_column(ForeignKey("email_claim.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    matched: Mapped[bool] = mapped_column(default=False)
    # The CRM lead the email was logged against for this address (no contact yet): dropped
    # from relatedTo when the lead becomes a contact, and named by "why".
    lead_id: Mapped[str | None] = mapped_column(String(255))
    lead_name: Mapped[str | None] = mapped_column(String(255))


class UnmatchedItem(Base):
    """The sync cache: an email or meeting waiting for one of its addresses to become a contact."""

    __tablename__ = "unmatched_item"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "key"),
        Index("ix_unmatched_next", "next_retry_at"),
        Index("ix_unmatched_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # email | meeting
    key: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(String(500))
    addresses: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    next_retry_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    payload: Mapped[str | None] = mapped_column(Text)  # reserved for kinds without a claim row
