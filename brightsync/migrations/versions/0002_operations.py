"""operations: pause flags, the run-outcome time series, metric counters

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("sync_state") as batch_op:
        batch_op.add_column(
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "run_stat",
        sa.Column("bucket", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=20), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("synced", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "org_id", "service", name=op.f("pk_run_stat")),
    )
    op.create_index("ix_run_stat_bucket", "run_stat", ["bucket"], unique=False)
    op.create_table(
        "metric_counter",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("labels", sa.String(length=500), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels", name=op.f("pk_metric_counter")),
    )


def downgrade() -> None:
    op.drop_table("metric_counter")
    op.drop_index("ix_run_stat_bucket", table_name="run_stat")
    op.drop_table("run_stat")
    with op.batch_alter_table("sync_state") as batch_op:
        batch_op.drop_column("paused")
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_column("paused")
