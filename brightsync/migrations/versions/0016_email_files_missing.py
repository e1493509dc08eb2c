"""email_claim.files_missing: the attachment files of a logged email still to be delivered
(fetch failed), retried with the claim's backoff

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("files_missing", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_column("files_missing")
