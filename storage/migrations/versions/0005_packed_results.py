"""results_packed: older raw results packed one row per check and hour (storage/packing.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "results_packed",
        sa.Column("check_id", sa.String(400), primary_key=True),
        sa.Column("hour", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("blob", sa.LargeBinary(16 * 1024 * 1024), nullable=False),
    )
    op.create_index("ix_results_packed_hour", "results_packed", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_results_packed_hour", table_name="results_packed")
    op.drop_table("results_packed")
