"""The schema (one for SQLite, PostgreSQL and MySQL/MariaDB). Times are stored as integer
milliseconds since the epoch (UTC): portable, compact, index-friendly, and free of the
time-zone traps of MySQL's DATETIME; Python sees timezone-aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 400  # "<component>/<name>", each part at most 200 characters
REASON_LENGTH = 1000  # reasons are short by design; longer text is cut, never rejected


class EpochMs(TypeDecorator[datetime]):
    """datetime (aware, UTC) ↔ BIGINT milliseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return round(value.timestamp() * 1000)
        return round(float(value) * 1000)  # unix seconds

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(value / 1000, tz=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class CheckRow(Base):
    """Every check ever configured. A check removed from the config is retired, not deleted, so
    its history stays readable under the same id."""

    __tablename__ = "checks"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    component: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(EpochMs)
    updated_at: Mapped[datetime] = mapped_column(EpochMs)
    retired_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)


class ResultRow(Base):
    """One row per run: many and short-lived. (check_id, ts) is the key, so writing the same
    result twice (a retried batch, a remote agent's re-push) changes nothing."""

    __tablename__ = "results"

    check_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    ts: Mapped[datetime] = mapped_column(EpochMs, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    latency: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH), default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_results_ts", "ts"),)


class StateChangeRow(Base):
    """One row per change of a check's confirmed state, kept for ever: the state of a check at
    T is the last row at or before T."""

    __tablename__ = "state_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    ts: Mapped[datetime] = mapped_column(EpochMs)
    old: Mapped[str] = mapped_column(String(16))
    new: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("uq_state_changes_check_ts", "check_id", "ts", unique=True),
        Index("ix_state_changes_ts", "ts"),
    )


class ComponentChangeRow(Base):
    """One row per change of a component's derived status, kept for ever."""

    __tablename__ = "component_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    component: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(EpochMs)
    old: Mapped[str] = mapped_column(String(16))
    new: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("uq_component_changes_component_ts", "component", "ts", unique=True),
        Index("ix_component_changes_ts", "ts"),
    )


# Alerting's and the history's tables share this Base: imported here so that Alembic and
# create_all see them.
from storage import alert_models as _alert_models  # noqa: E402, F401
from storage import heartbeat_models as _heartbeat_models  # noqa: E402, F401
from storage import history_models as _history_models  # noqa: E402, F401
from storage import packed_models as _packed_models  # noqa: E402, F401
