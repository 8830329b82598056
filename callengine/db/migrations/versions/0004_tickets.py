"""tickets: one per finished call, status baru (new) to selesai (resolved)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), sa.ForeignKey("calls.linkedid"), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("category", sa.String(40)),
        sa.Column("caller", sa.String(20)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_facts", sa.JSON))
        batch.add_column(sa.Column("locations", sa.JSON))
        batch.add_column(sa.Column("caller_status", sa.String(20)))
        batch.add_column(sa.Column("source", sa.String(10), nullable=False, server_default="ami"))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("source")
        batch.drop_column("caller_status")
        batch.drop_column("locations")
        batch.drop_column("recording_facts")
    op.drop_table("tickets")
