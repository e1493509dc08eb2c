"""meeting claims: one CRM event per meeting per organisation

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meeting_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("meeting_key", sa.String(length=500), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("owner_event_id", sa.String(length=500), nullable=False),
        sa.Column("organizer", sa.Boolean(), nullable=False),
        sa.Column("crm_event_id", sa.String(length=200), nullable=True),
        sa.Column("recheck", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("claimed_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_meeting_claim_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["user_account.id"],
            name=op.f("fk_meeting_claim_owner_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_claim")),
        sa.UniqueConstraint("org_id", "meeting_key", name=op.f("uq_meeting_claim_org_id")),
    )
    op.create_table(
        "meeting_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("meeting_key", sa.String(length=500), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("organizer", sa.Boolean(), nullable=False),
        sa.Column("seen_at", brightsync.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_meeting_copy_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_meeting_copy_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_copy")),
        sa.UniqueConstraint(
            "org_id", "meeting_key", "user_id", name=op.f("uq_meeting_copy_org_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("meeting_copy")
    op.drop_table("meeting_claim")
