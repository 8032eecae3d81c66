"""Alerting tables: each alert's current state, the log of alert events (sent or suppressed),
the delivery outbox (one row per event and receiver) and silences. Schema only: no queries here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import ID_LENGTH, REASON_LENGTH, Base, EpochMs

KEY_LENGTH = ID_LENGTH + 20  # "check:<id>" / "component:<name>"
EVENT_ID_LENGTH = 64
NAME_LENGTH = 200


class AlertStateRow(Base):
    """One row per alert key: what was last decided and notified. Restored at start, so a
    restarted service neither fires again what is firing nor forgets what it must resolve."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # firing | silenced | covered | resolved
    episode_start: Mapped[datetime] = mapped_column(EpochMs)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    fired_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    last_notified_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    suppressed_by: Mapped[str | None] = mapped_column(String(REASON_LENGTH), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(EpochMs)


class AlertEventRow(Base):
    """One row per alert event (firing, reminder, resolved), kept: those suppressed by a
    silence or a parent's alert are recorded too, with what suppressed them."""

    __tablename__ = "alert_events"

    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(EpochMs)
    suppressed_by: Mapped[str | None] = mapped_column(String(REASON_LENGTH), nullable=True)
    receivers: Mapped[list[str]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_alert_events_key_at", "key", "at"), Index("ix_alert_events_at", "at"))


class AlertOutboxRow(Base):
    """One notification to deliver: written in the same transaction as the alert state that
    caused it, before anything is sent; the sender marks the outcome."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH))
    receiver: Mapped[str] = mapped_column(String(NAME_LENGTH))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    created_at: Mapped[datetime] = mapped_column(EpochMs)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(EpochMs)
    outcome: Mapped[str] = mapped_column(String(16))  # pending | delivered | rejected | expired | dropped
    delivered_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(EpochMs)

    __table_args__ = (
        Index("uq_alert_outbox_event_receiver", "event_id", "receiver", unique=True),
        Index("ix_alert_outbox_outcome", "outcome"),
        Index("ix_alert_outbox_created_at", "created_at"),
    )


class SilenceRow(Base):
    """A silence created through the API (config silences live in the config). Expired and
    deleted ones are kept for the record."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matchers: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(EpochMs)
    ends_at: Mapped[datetime] = mapped_column(EpochMs)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(EpochMs)
    deleted_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)

    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)
