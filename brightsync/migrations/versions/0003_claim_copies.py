"""claims record the participants they saw, wait for the sender's copy, count failures

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("participants", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "wait_until", brightsync.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_column("wait_until")
        batch_op.drop_column("participants")
        batch_op.drop_column("failures")
