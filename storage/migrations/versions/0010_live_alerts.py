"""Action buttons on alerts and two-way state (SPEC section 8): the account's actions
settings, each folder's HIGHESTMODSEQ, and the live alerts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("actions", sa.String(length=8), nullable=False, server_default="off")
        )
        batch.add_column(sa.Column("actions_role_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("folder_state") as batch:
        batch.add_column(sa.Column("highest_modseq", sa.BigInteger(), nullable=True))
    op.create_table(
        "live_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("seen", sa.Boolean(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=True),
        sa.Column("event_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["folder_id"], ["folder_state.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id"),
    )
    op.create_index(
        "ix_live_alert_account_created", "live_alert", ["account_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_live_alert_account_message", "live_alert", ["account_id", "message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_live_alert_account_message", table_name="live_alert")
    op.drop_index("ix_live_alert_account_created", table_name="live_alert")
    op.drop_table("live_alert")
    with op.batch_alter_table("folder_state") as batch:
        batch.drop_column("highest_modseq")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("actions_role_id")
        batch.drop_column("actions")
