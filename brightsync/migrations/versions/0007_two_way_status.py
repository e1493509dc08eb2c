"""two-way status table: per-side seen fields, merge bases, tombstones, intents, holds

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UTC = brightsync.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("object_link", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
        batch_op.add_column(sa.Column("mailbox_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("crm_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mailbox_fields", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("crm_fields", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("mailbox_base", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("crm_base", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("mailbox_modified", _UTC, nullable=True))
        batch_op.add_column(sa.Column("crm_modified", _UTC, nullable=True))
        batch_op.add_column(
            sa.Column("mailbox_gone", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("crm_gone", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("intent_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("intent_side", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("held", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("blocked", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("error_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("conflict", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("created_at", _UTC, nullable=False, server_default=sa.func.now())
        )
    # The defaults only filled existing rows; the models set these values themselves.
    with op.batch_alter_table("object_link", schema=None) as batch_op:
        batch_op.alter_column("mailbox_gone", server_default=None)
        batch_op.alter_column("crm_gone", server_default=None)
        batch_op.alter_column("created_at", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("object_link", schema=None) as batch_op:
        for name in (
            "created_at",
            "conflict",
            "error_at",
            "error",
            "blocked",
            "held",
            "intent_side",
            "intent_key",
            "crm_gone",
            "mailbox_gone",
            "crm_modified",
            "mailbox_modified",
            "crm_base",
            "mailbox_base",
            "crm_fields",
            "mailbox_fields",
            "crm_hash",
            "mailbox_hash",
        ):
            batch_op.drop_column(name)
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
