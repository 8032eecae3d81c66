"""The schema (one for SQLite, PostgreSQL and MySQL/MariaDB): the core tables here, the others in
their own modules on the same base (storage.orm), all imported below so that the metadata is whole
for Alembic and `create_all`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import ID_LENGTH, REASON_LENGTH, Base, EpochMs

__all__ = ["ID_LENGTH", "REASON_LENGTH", "Base", "CheckRow", "ComponentChangeRow", "EpochMs", "ResultRow",
           "StateChangeRow"]


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
from storage import agent_models as _agent_models  # noqa: E402, F401
from storage import alert_models as _alert_models  # noqa: E402, F401
from storage import audit_models as _audit_models  # noqa: E402, F401
from storage import heartbeat_models as _heartbeat_models  # noqa: E402, F401
from storage import lease_models as _lease_models  # noqa: E402, F401
from storage import packed_models as _packed_models  # noqa: E402, F401
from storage import rollup_models as _rollup_models  # noqa: E402, F401
