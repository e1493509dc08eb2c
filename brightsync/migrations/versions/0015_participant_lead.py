"""email_participant.lead_id / lead_name: the CRM lead an email was logged against for an
address with no contact, so the re-link drops it when the lead becomes a contact

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_participant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lead_name", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("email_participant", schema=None) as batch_op:
        batch_op.drop_column("lead_name")
        batch_op.drop_column("lead_id")
