"""Replies over SMTP (SPEC section 13): the account's outgoing server and reply settings,
and the outgoing messages, stored before SMTP starts.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("smtp_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("smtp_port", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("smtp_security", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("smtp_sent_copy", sa.String(length=8), nullable=False, server_default="auto")
        )
        batch.add_column(sa.Column("smtp_from", sa.String(length=320), nullable=True))
        batch.add_column(
            sa.Column("replies", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("reply_role_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("signature", sa.String(length=500), nullable=True))
    op.create_table(
        "outgoing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sent_by", sa.BigInteger(), nullable=False),
        sa.Column("message_ref", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipients", sa.String(), nullable=False),
        sa.Column("to_addrs", sa.String(), nullable=False),
        sa.Column("cc_addrs", sa.String(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("attachments", sa.String(), nullable=False),
        sa.Column("in_reply_to", sa.String(length=300), nullable=True),
        sa.Column("reference_ids", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("sent_copy", sa.String(length=16), nullable=True),
        sa.Column("alert_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_ref"),
    )
    op.create_index("ix_outgoing_account_created", "outgoing", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outgoing_account_created", table_name="outgoing")
    op.drop_table("outgoing")
    with op.batch_alter_table("account") as batch:
        for column in (
            "signature",
            "reply_role_id",
            "replies",
            "smtp_from",
            "smtp_sent_copy",
            "smtp_security",
            "smtp_port",
            "smtp_host",
        ):
            batch.drop_column(column)
