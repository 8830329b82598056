"""scores: QA scores of calls and their answers, append-only (a correction is a new version)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("scores", "score_answers")
# A submitted score is never changed, in the database itself: corrections are new rows.
_SQLITE_GUARDS = [
    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} are append-only: a correction is a new version'); END"
    for table in TABLES for verb in ("UPDATE", "DELETE")
]
_POSTGRES_GUARDS = [
    "CREATE FUNCTION scores_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION '% are append-only: a correction is a new version', TG_TABLE_NAME; END $$",
    *(statement for table in TABLES for statement in (
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE PROCEDURE scores_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE PROCEDURE scores_append_only()")),
]


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), sa.ForeignKey("calls.linkedid"), nullable=False, index=True),
        sa.Column("reviewer", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_id", sa.Integer, sa.ForeignKey("scores.id"), unique=True),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("category", sa.String(40)),
        sa.Column("comment", sa.Text),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("failed_critical", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("peer", sa.String(64)),
        sa.UniqueConstraint("linkedid", "reviewer", "version", name="uq_scores_version"),
        sa.CheckConstraint("(version = 1 AND previous_id IS NULL) OR (version > 1 AND previous_id IS NOT NULL)",
                           name="ck_scores_chain"),
        sa.CheckConstraint("percent BETWEEN 0 AND 100 AND score BETWEEN 0 AND 100", name="ck_scores_range"),
    )
    op.create_table(
        "score_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("score_id", sa.Integer, sa.ForeignKey("scores.id"), nullable=False, index=True),
        sa.Column("criterion", sa.String(40), nullable=False),
        sa.Column("value", sa.Integer),
        sa.Column("out_of", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("comment", sa.Text),
        sa.UniqueConstraint("score_id", "criterion", name="uq_score_answers_criterion"),
        sa.CheckConstraint("value IS NULL OR value BETWEEN 0 AND out_of", name="ck_score_answers_value"),
    )
    guards = _POSTGRES_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("score_answers")      # the triggers go with their tables
    op.drop_table("scores")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION scores_append_only()")
