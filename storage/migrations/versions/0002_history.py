"""History: rollups per check (5 minutes packed per hour, 1 hour, 1 day) and per component (1 day),
the rollup job's watermarks, maintenance windows. Existing results are rolled up by the first job run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of storage.latency.BIN_COLUMNS as of this revision: a migration never imports code
# that may change after it.
BIN_COLUMNS = tuple(f"h{i:02d}" for i in range(34))


def _rollup(name: str, *columns: sa.Column, subject: str = "check_id", length: int = 400) -> None:
    op.create_table(
        name,
        sa.Column(subject, sa.String(length), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(subject, "bucket", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )
    op.create_index(f"ix_{name}_bucket", name, ["bucket"])


def _summary() -> list[sa.Column]:
    return [
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("lat_sum", sa.Double(), nullable=False),
        sa.Column("lat_max", sa.Double(), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in BIN_COLUMNS),
    ]


def upgrade() -> None:
    _rollup("rollup_5m", sa.Column("detail", sa.LargeBinary(), nullable=False))
    _rollup("rollup_1h", *_summary())
    _rollup("rollup_1d", *_summary())
    _rollup("component_rollup_1d", *_summary(), subject="component", length=200)
    op.create_table(
        "history_marks",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("config_key", sa.String(200), nullable=True, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=True),
        sa.Column("ends_at", sa.BigInteger(), nullable=True),
        sa.Column("recurrence", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    for table in ("maintenance_windows", "history_marks", "component_rollup_1d", "rollup_1d", "rollup_1h", "rollup_5m"):
        op.drop_table(table)
