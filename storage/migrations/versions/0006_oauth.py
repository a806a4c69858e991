"""OAuth2 accounts: how the account signs in, its provider, and a stop flag for a sign-in
only /mail reauth can fix. The token set lives encrypted where a password would.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("auth", sa.String(length=16), nullable=False, server_default="password")
        )
        batch.add_column(sa.Column("oauth_provider", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("needs_reauth", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.drop_column("needs_reauth")
        batch.drop_column("oauth_provider")
        batch.drop_column("auth")
