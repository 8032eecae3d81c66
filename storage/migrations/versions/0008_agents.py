"""remote agents: contacts, the inbox of pushed results, discovered checks, rollup requests
(storage/agent_models.py, docs/agents.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_contacts",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_push", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("clock_offset", sa.Double(), nullable=True),
        sa.Column("buffered", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("results", sa.BigInteger(), nullable=False),
        sa.Column("agent_version", sa.String(40), nullable=False),
        sa.Column("config_version", sa.String(64), nullable=False),
    )
    op.create_table(
        "agent_inbox",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("series", sa.String(400), nullable=False),
        sa.Column("check_id", sa.String(400), nullable=False),
        sa.Column("location", sa.String(63), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_agent_inbox_series_ts", "agent_inbox", ["series", "ts"], unique=True)
    op.create_index("ix_agent_inbox_shard_seq", "agent_inbox", ["shard", "seq"])
    op.create_table(
        "agent_discovered",
        sa.Column("source", sa.String(300), primary_key=True),
        sa.Column("agent", sa.String(63), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "rollup_requests",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("earliest", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_requests")
    op.drop_table("agent_discovered")
    op.drop_index("ix_agent_inbox_shard_seq", table_name="agent_inbox")
    op.drop_index("uq_agent_inbox_series_ts", table_name="agent_inbox")
    op.drop_table("agent_inbox")
    op.drop_table("agent_contacts")
