"""Routing rules, hourly/daily digests, and To/Cc of archived POP3 mail (SPEC section 9).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("delivery", sa.String(length=16), nullable=False, server_default="instant")
        )
        batch.add_column(
            sa.Column("digest_time", sa.String(length=5), nullable=False, server_default="09:00")
        )
    with op.batch_alter_table("pop3_message") as batch:
        batch.add_column(sa.Column("to_addrs", sa.String(), nullable=True))
        batch.add_column(sa.Column("cc_addrs", sa.String(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("match", sa.String(length=400), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("mention_role_id", sa.BigInteger(), nullable=True),
        sa.Column("mute", sa.Boolean(), nullable=False),
        sa.Column("channel_broken", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_routing_rule_account_id", "routing_rule", ["account_id"])
    op.create_table(
        "digest_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=1000), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=1000), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_digest_item_account_id", "digest_item", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_digest_item_account_id", table_name="digest_item")
    op.drop_table("digest_item")
    op.drop_index("ix_routing_rule_account_id", table_name="routing_rule")
    op.drop_table("routing_rule")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("rule_id")
    with op.batch_alter_table("pop3_message") as batch:
        batch.drop_column("cc_addrs")
        batch.drop_column("to_addrs")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("digest_time")
        batch.drop_column("delivery")
