"""Possible duplicate contacts waiting for a person's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow

DUPLICATE_STATES = ("open", "approved", "rejected")


class PossibleDuplicate(Base):
    """Two contact records that scored in the grey band: nothing was created or merged.

    `key_a` < `key_b` ('crm:<id>' / 'mailbox:<userId>:<id>') make the pair unique per org, so
    recording it again (a retried task, the next sync run) updates the row instead of adding
    one. `record_a`/`record_b` are the records as compared; `reasons` what the matcher saw.
    """

    __tablename__ = "possible_duplicate"
    __table_args__ = (
        UniqueConstraint("org_id", "key_a", "key_b"),
        Index("ix_possible_duplicate_state", "org_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    key_a: Mapped[str] = mapped_column(String(255))
    key_b: Mapped[str] = mapped_column(String(255))
    record_a: Mapped[dict[str, Any]] = mapped_column()
    record_b: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(20), default="open")  # open|approved|rejected
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
