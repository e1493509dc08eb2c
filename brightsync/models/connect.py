"""Connecting a mailbox through Aurinko's OAuth flow: the links a provider hands its users,
and the single-use `state` of each authorisation started from one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow


class ConnectLink(Base):
    """A one-time link of BrightSync's (`/connect/{key}`): it may be opened again until a
    mailbox is connected through it (`used_at`) or it expires."""

    __tablename__ = "connect_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))  # the mailbox expected, if known
    crm_user_id: Mapped[str | None] = mapped_column(String(200))
    services: Mapped[list[Any]] = mapped_column(default=list)
    service_type: Mapped[str | None] = mapped_column(String(30))  # Google, Office365, ...
    return_url: Mapped[str | None] = mapped_column(String(2000))
    mode: Mapped[str] = mapped_column(String(10), default="live")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )  # the user connected through it


class ConnectState(Base):
    """One authorisation sent to Aurinko: its `state` nonce, spent by the first callback that
    carries it (`used_at`, set by a conditional UPDATE), so a replay finds it spent."""

    __tablename__ = "connect_state"
    __table_args__ = (Index("ix_connect_state_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("connect_link.id", ondelete="CASCADE"))
    # A reconnect link's user (the account must come back the same).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()
