"""Alerting: alert states, alert events, the delivery outbox, silences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"  # after the history (0002)
branch_labels = None
depends_on = None

KEY = 420
EVENT_ID = 64
NAME = 200
REASON = 1000


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("key", sa.String(KEY), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("episode_start", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=True),
        sa.Column("last_notified_at", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.String(NAME), nullable=True),
        sa.Column("suppressed_by", sa.String(REASON), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("event_id", sa.String(EVENT_ID), primary_key=True),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("suppressed_by", sa.String(REASON), nullable=True),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_events_key_at", "alert_events", ["key", "at"])
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(EVENT_ID), nullable=False),
        sa.Column("receiver", sa.String(NAME), nullable=False),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_alert_outbox_event_receiver", "alert_outbox", ["event_id", "receiver"], unique=True)
    op.create_index("ix_alert_outbox_outcome", "alert_outbox", ["outcome"])
    op.create_index("ix_alert_outbox_created_at", "alert_outbox", ["created_at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(NAME), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    for table in ("silences", "alert_outbox", "alert_events", "alert_states"):
        op.drop_table(table)
