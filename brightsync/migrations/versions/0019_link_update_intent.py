"""object_link.update_intent: the fields an update sent to a side before its answer came, so
a lost answer (or a worker killed after the write) is recognised on the next run instead of
read as someone else's change

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("object_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_intent", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("object_link", schema=None) as batch_op:
        batch_op.drop_column("update_intent")
