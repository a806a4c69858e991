"""Each outbox row carries its own random message nonce instead of `ms<row id>`: SQLite
reuses the ids of deleted rows, and Discord answers a nonce it saw from the bot in the past
minutes with that earlier message, creating none (an alert silently lost). Rows already
queued keep `ms<id>`, the nonce a try before the upgrade may have used, so a retry of one
that reached Discord still cannot post twice.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("nonce", sa.String(25), nullable=True))
    op.execute("UPDATE outbox SET nonce = 'ms' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("nonce", existing_type=sa.String(25), nullable=False)
        batch.create_unique_constraint("uq_outbox_nonce", ["nonce"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_nonce", type_="unique")
        batch.drop_column("nonce")
