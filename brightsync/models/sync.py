"""Per-user sync state, received notifications, the two-way link table and coordination rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base, utcnow


class SyncState(Base):
    """One row per (user, service): delta tokens, watermark, run coordination and counters.

    `pending_since` set means a run is wanted (queued in the broker, or due then after a
    transient failure); `lease_until` in the future means a run holds the lease, `lease_owner`
    is its fencing token (see brightsync.sync.leases). Both are flipped with conditional
    UPDATEs, so any number of web and worker processes agree on "one running, at most one queued".
    """

    __tablename__ = "sync_state"
    __table_args__ = (
        UniqueConstraint("user_id", "service"),
        Index("ix_sync_state_pending", "pending_since"),
        Index("ix_sync_state_lease", "lease_until"),
        Index("ix_sync_state_last_sync", "last_sync_at"),  # the safety sync's quiet services
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(20))
    updated_token: Mapped[str | None] = mapped_column(Text)
    # The next page of an unfinished delta run: a crashed or timed-out run resumes here.
    resume_token: Mapped[str | None] = mapped_column(Text)
    deleted_token: Mapped[str | None] = mapped_column(Text)
    crm_since: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="idle")  # idle|queued|running|error
    pending_since: Mapped[datetime | None] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(2000))
    last_error_at: Mapped[datetime | None] = mapped_column()
    runs: Mapped[int] = mapped_column(default=0)
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any] | None] = mapped_column()  # the running run's counts so far
    # Set by an operator: no run of this service starts until resumed (checked at run start).
    paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    """Every accepted webhook: replays are recognised by digest; the table is the audit log."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("digest"), Index("ix_notification_received", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(100))
    resource: Mapped[str | None] = mapped_column(String(200))
    subscription: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column()
    lifecycle_event: Mapped[str | None] = mapped_column(String(20))
    payload_count: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(30))  # enqueued|coalesced|ignored|lifecycle
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ObjectLink(Base):
    """The two-way status table: one mailbox record <-> one CRM record of one user and domain.

    Per side: the record id, its version (etag / lastModifiedAt), the mapped fields as last
    seen and their hash, the merge base (what that side held when both sides last agreed),
    when it last changed and a tombstone flag. `intent_key`/`intent_side` record a create
    before it is sent (a crashed or unanswered create is looked for before it is repeated), and
    `update_intent` an update's fields (an unanswered update that landed is recognised);
    `held` names the side whose deletion waits for review; `blocked` is the content at which
    a write failed for good (not retried until the content changes), with `error`.
    `state` summarises it for people: synced | creating | held | failed | deleted.
    """

    __tablename__ = "object_link"
    __table_args__ = (
        UniqueConstraint("user_id", "domain", "mailbox_id"),
        Index("ix_object_link_crm", "org_id", "domain", "crm_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(20))  # calendar|contacts|tasks
    mailbox_id: Mapped[str | None] = mapped_column(String(500))
    crm_id: Mapped[str | None] = mapped_column(String(200))
    mailbox_version: Mapped[str | None] = mapped_column(String(200))
    crm_version: Mapped[str | None] = mapped_column(String(64))
    mailbox_hash: Mapped[str | None] = mapped_column(String(64))
    crm_hash: Mapped[str | None] = mapped_column(String(64))
    mailbox_fields: Mapped[dict[str, Any] | None] = mapped_column()
    crm_fields: Mapped[dict[str, Any] | None] = mapped_column()
    mailbox_base: Mapped[dict[str, Any] | None] = mapped_column()
    crm_base: Mapped[dict[str, Any] | None] = mapped_column()
    mailbox_modified: Mapped[datetime | None] = mapped_column()
    crm_modified: Mapped[datetime | None] = mapped_column()
    mailbox_gone: Mapped[bool] = mapped_column(default=False)
    crm_gone: Mapped[bool] = mapped_column(default=False)
    intent_key: Mapped[str | None] = mapped_column(String(64))
    intent_side: Mapped[str | None] = mapped_column(String(10))
    # Per side, the fields an update sent whose answer has not come back (yet).
    update_intent: Mapped[dict[str, Any] | None] = mapped_column()
    held: Mapped[str | None] = mapped_column(String(10))
    blocked: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(2000))
    error_at: Mapped[datetime | None] = mapped_column()
    conflict: Mapped[dict[str, Any] | None] = mapped_column()  # the last conflict and its loser
    state: Mapped[str] = mapped_column(String(20), default="synced")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Lock(Base):
    """Named lock with expiry (embedded fallback when no Redis is configured)."""

    __tablename__ = "coordination_lock"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()


class RateWindow(Base):
    """Request counter per key and one-second window (embedded fallback for rate budgets)."""

    __tablename__ = "coordination_rate"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class CacheEntry(Base):
    """A short-lived shared value (embedded fallback for `Coordinator.cache_*`; Redis keys
    expire by themselves). Read only while `expires_at` is ahead; expired rows are pruned
    when values are stored (index on expires_at: the prune touches only what is due)."""

    __tablename__ = "coordination_cache"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
