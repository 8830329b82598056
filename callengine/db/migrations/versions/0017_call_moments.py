"""calls: the moments of the queue and the phones (each ring of a call taker, each hold) for
the QA player's timeline; calls stored before it hold '{}' (none known), as do calls rebuilt from CEL

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("moments", sa.JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("moments")
