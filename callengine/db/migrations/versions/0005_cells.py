"""cell tower table (OpenCelliD) for locating callers by their serving cell

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Mirrors callengine.db.models.cells; the composite key is what the importer upserts on.
    op.create_table(
        "cells",
        sa.Column("radio", sa.String(8), nullable=False),
        sa.Column("mcc", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("net", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("area", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("cell", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("range_m", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("updated", sa.BigInteger),
        sa.PrimaryKeyConstraint("radio", "mcc", "net", "area", "cell"),
    )


def downgrade() -> None:
    op.drop_table("cells")
