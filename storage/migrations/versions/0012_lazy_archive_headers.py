"""POP3 archive rows whose header fields are read when first needed (storage/archive.py):
a bulk download commits the bytes only; rows stored before were read at download. And an
index for the announcement's count and newest rows of what is not announced yet.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pop3_message") as batch:
        batch.add_column(
            sa.Column("headers_read", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_index(
        "ix_pop3_message_unannounced", "pop3_message", ["account_id", "announced", "id"]
    )


def downgrade() -> None:
    # An older version reads the fields as stored: fill them first (the bot does when it
    # next needs them), or they show as empty there.
    op.drop_index("ix_pop3_message_unannounced", table_name="pop3_message")
    with op.batch_alter_table("pop3_message") as batch:
        batch.drop_column("headers_read")
