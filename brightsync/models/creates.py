"""The intent table of safe creates: a CRM create is recorded before it is sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow


class CreateIntent(Base):
    """One record BrightSync means to create in an organisation's CRM, by a stable key.

    state: pending (not sent, or surely not processed) -> sending (a request may be in
    flight; a worker that dies here leaves it so) -> created (remote_id known) | maybe (the
    answer was lost: look before sending again) | failed (refused for good). See
    `brightsync.sync.creates`.
    """

    __tablename__ = "create_intent"
    __table_args__ = (UniqueConstraint("org_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # contact, company, event, task, ...
    key: Mapped[str] = mapped_column(String(255))  # stable per record: address, domain, uid
    idempotency_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    remote_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    busy_until: Mapped[datetime | None] = mapped_column()  # a sender holds it until then
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
