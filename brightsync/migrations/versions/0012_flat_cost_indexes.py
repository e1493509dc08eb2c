"""flat cost: a sync page looks up its senders, the subscription check reads what is due

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from brightsync.models.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index("ix_user_account_org_email", ["org_id", "email"], unique=False)
    # Existing subscriptions start unverified (NULL): the first check after it verifies each.
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_subscription_due", ["state", "checked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_due")
        batch_op.drop_column("checked_at")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index("ix_user_account_org_email")
