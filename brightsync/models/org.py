"""Organisations (tenants with one CRM connection) and their users (mailboxes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from brightsync.models.base import Base, utcnow


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[Any]] = mapped_column(default=list)
    crm_base_url: Mapped[str] = mapped_column(String(500))
    crm_auth_type: Mapped[str] = mapped_column(String(10))  # bearer | basic
    # Fernet token of {"token": ...} or {"username": ..., "password": ...}; never logged.
    crm_secret_enc: Mapped[str] = mapped_column(String(2000))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the connector was found to offer (probed once, refreshed hourly), so a sync run
    # does not spend CRM calls rediscovering it.
    crm_capabilities: Mapped[dict[str, Any] | None] = mapped_column()
    crm_capabilities_at: Mapped[datetime | None] = mapped_column()
    # The connector's own words seen in sync, e.g. {"taskStatus": {"completed": "Completed"}}:
    # what BrightSync writes back (kept until the connector changes; see crm/vocabulary.py).
    crm_vocabulary: Mapped[dict[str, Any] | None] = mapped_column()
    # Watermark of the CRM-contact watch: contacts changed since then may unblock cached mail.
    crm_contacts_since: Mapped[datetime | None] = mapped_column()
    # live | review: in review, syncs record what they would do and write nothing.
    mode: Mapped[str] = mapped_column(String(10), default="live", server_default="live")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="org", cascade="all, delete-orphan")


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (
        UniqueConstraint("aurinko_account_id"),
        # A sync page looks up only its senders among the organisation's mailboxes.
        Index("ix_user_account_org_email", "org_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    crm_user_id: Mapped[str | None] = mapped_column(String(200))
    aurinko_account_id: Mapped[str] = mapped_column(String(100))
    access_token_enc: Mapped[str] = mapped_column(String(4000))
    services: Mapped[list[Any]] = mapped_column(default=list)
    # ok | reauth_required: a dead Aurinko token stops syncs until the user re-authorises.
    mailbox_state: Mapped[str] = mapped_column(String(30), default="ok")
    mailbox_error: Mapped[str | None] = mapped_column(String(1000))
    # Set by an operator: no run of any service of this user starts until resumed.
    paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    # live | review (see Organisation.mode); either in review puts the user's syncs in review.
    mode: Mapped[str] = mapped_column(String(10), default="live", server_default="live")
    # This user's overrides of the organisation's settings (validated; deep-merged over them).
    settings: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation] = relationship(back_populates="users")
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"eager_defaults": True}


class Subscription(Base):
    """One Aurinko webhook subscription of a user, and whether it is healthy."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("user_id", "resource"),
        Index("ix_subscription_aurinko_id", "aurinko_id"),
        # The periodic check reads only what is due: not active, or not verified lately.
        Index("ix_subscription_due", "state", "checked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(20))
    resource: Mapped[str] = mapped_column(String(200))
    aurinko_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="pending")  # active|error|failed
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # When Aurinko last confirmed it live (NULL: never, or not active since).
    checked_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="subscriptions")
