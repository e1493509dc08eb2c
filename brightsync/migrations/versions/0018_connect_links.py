"""connect links and the single-use state of each OAuth authorisation (issue 19: connect a
mailbox through Aurinko's OAuth flow)

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import brightsync.models.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UTC = brightsync.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connect_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("crm_user_id", sa.String(length=200), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("service_type", sa.String(length=30), nullable=True),
        sa.Column("return_url", sa.String(length=2000), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_connect_link_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_connect_link_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_link")),
        sa.UniqueConstraint("key", name=op.f("uq_connect_link_key")),
    )
    op.create_table(
        "connect_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["connect_link.id"],
            name=op.f("fk_connect_state_link_id_connect_link"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
            name=op.f("fk_connect_state_org_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_connect_state_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_state")),
        sa.UniqueConstraint("nonce", name=op.f("uq_connect_state_nonce")),
    )
    op.create_index("ix_connect_state_created_at", "connect_state", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_connect_state_created_at", table_name="connect_state")
    op.drop_table("connect_state")
    op.drop_table("connect_link")
