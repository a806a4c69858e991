"""Threads (SPEC section 8): the account's threads switch, In-Reply-To and References of
archived POP3 mail, and the Message-ID -> Discord thread links.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("threads", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("pop3_message") as batch:
        batch.add_column(sa.Column("in_reply_to", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("reference_ids", sa.String(), nullable=True))
    op.create_table(
        "thread_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_ref", sa.String(length=300), nullable=False),
        sa.Column("root_message_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "channel_id", "message_ref", name="uq_thread_link"),
    )
    op.create_index("ix_thread_link_created_at", "thread_link", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_thread_link_created_at", table_name="thread_link")
    op.drop_table("thread_link")
    with op.batch_alter_table("pop3_message") as batch:
        batch.drop_column("reference_ids")
        batch.drop_column("in_reply_to")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("threads")
