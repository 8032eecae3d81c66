"""heartbeat_pings: what jobs report through /ping, read by every process (storage/heartbeats.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeat_pings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.String(400), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("exit_status", sa.SmallInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_heartbeat_pings_check_ts", "heartbeat_pings", ["check_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_heartbeat_pings_check_ts", table_name="heartbeat_pings")
    op.drop_table("heartbeat_pings")
