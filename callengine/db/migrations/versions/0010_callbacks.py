"""call-backs from the console: one row each, with the missed call it answers

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # for_linkedid names the missed call like tickets.linkedid, without a foreign key (see 0009);
    # the engine checks that the call exists when it places the call-back
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), nullable=False, unique=True),
        sa.Column("for_linkedid", sa.String(64), index=True),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(80), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(20)),
        sa.Column("dialstatus", sa.String(20)),
        sa.Column("cause", sa.String(200)),
        sa.Column("recording", sa.String(255)),
        sa.Column("talk_s", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("callbacks")
