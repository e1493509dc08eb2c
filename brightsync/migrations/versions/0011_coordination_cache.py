"""coordination_cache: short-lived shared values when no Redis is configured

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coordination_cache",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_coordination_cache")),
    )
    op.create_index(op.f("ix_coordination_cache_expires_at"), "coordination_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_coordination_cache_expires_at"), table_name="coordination_cache")
    op.drop_table("coordination_cache")
