"""How much of a message an alert shows (SPEC section 9): minimal, headers, snippet, full.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("privacy", sa.String(length=16), nullable=False, server_default="snippet")
        )


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.drop_column("privacy")
