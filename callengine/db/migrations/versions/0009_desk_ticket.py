"""the desk's ticket: opened when a call taker answers (before its call row exists), with the
form the taker fills while talking

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite's foreign key has no name: batch mode names it by this convention to drop it.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK, POSTGRES_FK = "fk_tickets_linkedid_calls", "tickets_linkedid_fkey"
COLUMNS = (
    ("classification", sa.String(20)), ("duplicate_of", sa.String(24)), ("incident_type", sa.String(80)),
    ("description", sa.Text), ("address", sa.String(300)), ("kelurahan", sa.String(80)),
    ("kecamatan", sa.String(80)), ("lat", sa.Float), ("lon", sa.Float), ("caller_name", sa.String(120)),
    ("callback_number", sa.String(20)), ("victims", sa.Integer), ("priority", sa.Integer),
    ("taker", sa.String(40)), ("answered_at", sa.DateTime(timezone=True)),
    ("wrapped_up_at", sa.DateTime(timezone=True)), ("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # A ticket now exists from the answer on, its call row only from the hangup: the foreign
    # key from tickets.linkedid to calls.linkedid goes (linkedid stays unique).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(POSTGRES_FK, "tickets", type_="foreignkey")
    with op.batch_alter_table("tickets", naming_convention=NAMING) as batch:
        if op.get_bind().dialect.name == "sqlite":
            batch.drop_constraint(SQLITE_FK, type_="foreignkey")
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind))
        batch.create_index("ix_tickets_taker", ["taker"])


def downgrade() -> None:
    with op.batch_alter_table("tickets", naming_convention=NAMING) as batch:
        batch.drop_index("ix_tickets_taker")
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
        fk = SQLITE_FK if op.get_bind().dialect.name == "sqlite" else POSTGRES_FK
        batch.create_foreign_key(fk, "calls", ["linkedid"], ["linkedid"])
