"""calls: ghost (no DTMF, no voice) and prank (marked by a call taker) flags

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("ghost", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("prank", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.drop_index("ix_calls_caller")
        batch.create_index("ix_calls_caller_prank", ["caller", "prank", "started_at"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_caller_prank")
        batch.create_index("ix_calls_caller", ["caller"])
        batch.drop_column("prank")
        batch.drop_column("ghost")
