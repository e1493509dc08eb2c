"""safety sync: index sync_state.last_sync_at; a state row for every registered service

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from brightsync.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sync_state_last_sync", "sync_state", ["last_sync_at"], unique=False)
    # The safety sync now reads only sync_state: services registered before this revision
    # that never had a run get their (never synced) row, as registration now creates it.
    bind = op.get_bind()
    users = sa.table("user_account", sa.column("id", sa.Integer), sa.column("services", sa.JSON))
    states = sa.table(
        "sync_state",
        sa.column("user_id", sa.Integer),
        sa.column("service", sa.String),
        sa.column("state", sa.String),
        sa.column("runs", sa.Integer),
        sa.column("counters", sa.JSON),
        sa.column("updated_at", UTCDateTime(timezone=True)),
    )
    have = {(u, s) for u, s in bind.execute(sa.select(states.c.user_id, states.c.service))}
    now = datetime.now(UTC)
    missing = [
        {
            "user_id": uid,
            "service": svc,
            "state": "idle",
            "runs": 0,
            "counters": {},
            "updated_at": now,
        }
        for uid, services in bind.execute(sa.select(users.c.id, users.c.services))
        for svc in dict.fromkeys(services or [])
        if isinstance(svc, str) and (uid, svc) not in have
    ]
    if missing:
        op.bulk_insert(states, missing)


def downgrade() -> None:
    op.drop_index("ix_sync_state_last_sync", table_name="sync_state")
