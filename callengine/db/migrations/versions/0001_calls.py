"""calls: one record per 112 call, keyed by Asterisk's Linkedid

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("linkedid", sa.String(64), primary_key=True),
        sa.Column("caller", sa.String(20), index=True),
        sa.Column("caller_raw", sa.String(80), nullable=False),
        sa.Column("dialed", sa.String(40)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(40)),
        sa.Column("queue", sa.String(40)),
        sa.Column("wait_s", sa.Float),
        sa.Column("agent", sa.String(80)),
        sa.Column("talk_s", sa.Float),
        sa.Column("disposition", sa.String(20), nullable=False),
        sa.Column("hangup_cause", sa.Integer),
        sa.Column("hangup_cause_text", sa.String(80)),
        sa.Column("hangup_by", sa.String(20)),
        sa.Column("recording", sa.String(255)),
        sa.Column("location", sa.JSON),
        sa.Column("ivr", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("calls")
