"""possible duplicate contacts for review

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "possible_duplicate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("key_a", sa.String(length=255), nullable=False),
        sa.Column("key_b", sa.String(length=255), nullable=False),
        sa.Column("record_a", sa.JSON(), nullable=False),
        sa.Column("record_b", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_possible_duplicate_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_possible_duplicate")),
        sa.UniqueConstraint("org_id", "key_a", "key_b", name=op.f("uq_possible_duplicate_org_id")),
    )
    with op.batch_alter_table("possible_duplicate", schema=None) as batch_op:
        batch_op.create_index(
            "ix_possible_duplicate_state", ["org_id", "state", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("possible_duplicate", schema=None) as batch_op:
        batch_op.drop_index("ix_possible_duplicate_state")
    op.drop_table("possible_duplicate")
