"""AML reports as received (matched to calls by number and time), and each call's SIP Call-ID

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aml_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("location", sa.JSON, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
    )
    op.create_index("ix_aml_reports_number_received", "aml_reports", ["number", "received_at"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("sip_call_id", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("sip_call_id")
    op.drop_index("ix_aml_reports_number_received", "aml_reports")
    op.drop_table("aml_reports")
