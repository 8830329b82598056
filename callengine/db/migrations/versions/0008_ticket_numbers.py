"""ticket numbers: <CITY CODE>-<YYYYMMDD>-<NNNN>, counted per local day

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tickets made before this revision keep no number: the city code is configuration,
    # which a migration cannot read.
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("number", sa.String(24)))
        batch.create_unique_constraint("uq_tickets_number", ["number"])
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_counters")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("uq_tickets_number", type_="unique")
        batch.drop_column("number")
