"""POP3 retention and mailbox limit, an alert role per account, and the POP3 archive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("retention", sa.String(length=16), nullable=False, server_default="keep")
        )
        batch.add_column(sa.Column("mailbox_limit_mb", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("mention_role_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "pop3_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("uidl", sa.String(length=512), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("sender", sa.String(length=1000), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw_compressed", sa.LargeBinary(), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "uidl", name="uq_pop3_message_uidl"),
    )
    op.create_index(
        "ix_pop3_message_account_downloaded", "pop3_message", ["account_id", "downloaded_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_pop3_message_account_downloaded", table_name="pop3_message")
    op.drop_table("pop3_message")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("mention_role_id")
        batch.drop_column("mailbox_limit_mb")
        batch.drop_column("retention")
