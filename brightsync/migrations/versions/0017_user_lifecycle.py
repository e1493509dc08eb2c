"""user_account.settings: a user's overrides of its organisation's settings; email_claim's
owner may go (SET NULL) so a removed user's decisions stay on record

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

FK = "fk_email_claim_owner_user_id_user_account"


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.alter_column("owner_user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            FK, "user_account", ["owner_user_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    op.execute("DELETE FROM email_claim WHERE owner_user_id IS NULL")
    with op.batch_alter_table("email_claim", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.alter_column("owner_user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            FK, "user_account", ["owner_user_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("settings")
