"""fenced leases: claim lease owners, resumable delta runs, indexed sweeps

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_email_claim_lease_owner", ["lease_owner"], unique=False)
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_token", sa.Text(), nullable=True))
        batch_op.create_index("ix_sync_state_pending", ["pending_since"], unique=False)
        batch_op.create_index("ix_sync_state_lease", ["lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_state_lease")
        batch_op.drop_index("ix_sync_state_pending")
        batch_op.drop_column("resume_token")
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_index("ix_email_claim_lease_owner")
        batch_op.drop_column("lease_owner")
