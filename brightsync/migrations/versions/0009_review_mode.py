"""review mode: mode flags on organisations and users, review reports, held-deletion decisions

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("organisation", "user_account"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("mode", sa.String(length=10), nullable=False, server_default="live")
            )
    op.create_table(
        "review_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=20), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_review_report_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_review_report_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_report")),
        sa.UniqueConstraint("user_id", "service", name=op.f("uq_review_report_user_id")),
    )
    op.create_table(
        "held_decision",
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("decided_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["object_link.id"],
            name=op.f("fk_held_decision_link_id_object_link"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_held_decision")),
    )


def downgrade() -> None:
    op.drop_table("held_decision")
    op.drop_table("review_report")
    for table in ("user_account", "organisation"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("mode")
