"""calls: indexes for the QA search (benchmarks/qa_search.py over 600,000 calls): the newest page
and date ranges ordered by (started_at, linkedid), read backwards by both SQLite and PostgreSQL;
a call taker's calls over a period by (agent, started_at)

Revision ID: 0016
Revises: 0015
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_started_at_linkedid", "calls", ["started_at", "linkedid"])
    op.create_index("ix_calls_agent_started_at", "calls", ["agent", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_agent_started_at", table_name="calls")
    op.drop_index("ix_calls_started_at_linkedid", table_name="calls")
