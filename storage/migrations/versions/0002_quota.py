"""Quota warnings: per-account thresholds and warned level, and usage history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("quota_warn", sa.String(length=64), nullable=False, server_default="80,90,95")
        )
        batch.add_column(sa.Column("quota_level", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "quota_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage", sa.BigInteger(), nullable=False),
        sa.Column("limit", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quota_sample_account_id", "quota_sample", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_quota_sample_account_id", table_name="quota_sample")
    op.drop_table("quota_sample")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("quota_level")
        batch.drop_column("quota_warn")
