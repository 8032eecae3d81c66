"""Initial schema: checks, results, state and component changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.String(400), primary_key=True),
        sa.Column("component", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_checks_component", "checks", ["component"])
    op.create_table(
        "results",
        sa.Column("check_id", sa.String(400), primary_key=True),
        sa.Column("ts", sa.BigInteger(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    op.create_index("ix_results_ts", "results", ["ts"])
    for table, subject in (("state_changes", "check_id"), ("component_changes", "component")):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column(subject, sa.String(400 if subject == "check_id" else 200), nullable=False),
            sa.Column("ts", sa.BigInteger(), nullable=False),
            sa.Column("old", sa.String(16), nullable=False),
            sa.Column("new", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
        )
        op.create_index(f"uq_{table}_{subject.removesuffix('_id')}_ts", table, [subject, "ts"], unique=True)
        op.create_index(f"ix_{table}_ts", table, ["ts"])


def downgrade() -> None:
    for table in ("component_changes", "state_changes", "results", "checks"):
        op.drop_table(table)
