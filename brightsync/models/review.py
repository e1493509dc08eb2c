"""Review before activation: what a sync in review mode would do, and people's decisions on
deletions the mass-deletion guard held."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow

MODES = ("live", "review")
HELD_DECISIONS = ("approve", "reject")


class ReviewReport(Base):
    """The latest review run of one user and service: the plan it would carry out.

    Review runs read from the live cursors without advancing them, so each report covers
    everything since the start and the first live run sees exactly the same changes.
    """

    __tablename__ = "review_report"
    __table_args__ = (UniqueConstraint("user_id", "service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(20))
    report: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeldDecision(Base):
    """A person's decision on a held deletion, carried out by the next run of its user and
    domain (under that run's lease, with the domain's adapter)."""

    __tablename__ = "held_decision"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("object_link.id", ondelete="CASCADE"), primary_key=True
    )
    decision: Mapped[str] = mapped_column(String(10))  # approve | reject
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
