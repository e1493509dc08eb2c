"""the claims sweeper finds waits that are over by index, not by reading every waiting claim

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.create_index("ix_email_claim_waits", ["state", "wait_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_index("ix_email_claim_waits")
