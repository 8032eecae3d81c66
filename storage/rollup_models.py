"""The history schema: rollups per check per bucket (5 minutes, 1 hour, 1 day) and per component
per day, the rollup job's watermarks, maintenance windows. Same Base as storage.models; the queries live elsewhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.latency import BIN_COLUMNS
from storage.orm import ID_LENGTH, Base, EpochMs

__all__ = ["ComponentRollup1d", "MaintenanceRow", "MarkRow", "Rollup1d", "Rollup1h", "Rollup5m"]


def _summary_columns() -> list[Column[Any]]:
    """Counts and the latency summary (storage.latency.Summary), mergeable with SUM()/MAX()."""
    return [
        Column("runs", Integer, nullable=False),
        Column("down", Integer, nullable=False),
        Column("degraded", Integer, nullable=False),
        Column("unknown", Integer, nullable=False),
        Column("lat_sum", Double, nullable=False),
        Column("lat_max", Double, nullable=True),
        *(Column(name, Integer, nullable=True) for name in BIN_COLUMNS),
    ]


def _rollup_table(name: str, *columns: Column[Any]) -> Table:
    # WITHOUT ROWID on SQLite: the (check_id, bucket) key is the table's own order, stored once.
    return Table(
        name,
        Base.metadata,
        Column("check_id", String(ID_LENGTH), nullable=False),
        Column("bucket", EpochMs, nullable=False),
        *columns,
        PrimaryKeyConstraint("check_id", "bucket", name=f"pk_{name}"),
        Index(f"ix_{name}_bucket", "bucket"),
        sqlite_with_rowid=False,
    )


class Rollup5m(Base):
    """The twelve 5-minute buckets of one check's hour, packed in `detail`
    (storage.latency.encode_slots). One row per hour rather than per 5 minutes: a database row
    costs 30-60 bytes of overhead and index before any data, which at 12 rows an hour would be
    most of the table; these buckets are only ever read for one check at a time."""

    __table__ = _rollup_table("rollup_5m", Column("detail", LargeBinary, nullable=False))  # bucket: the hour


class Rollup1h(Base):
    """One check's hour: runs by status and the latency histogram as columns, so that any set of
    checks and hours merges in SQL."""

    __table__ = _rollup_table("rollup_1h", *_summary_columns())  # bucket: start of the hour


class Rollup1d(Base):
    """One check's UTC day, the sum of its hours."""

    __table__ = _rollup_table("rollup_1d", *_summary_columns())  # bucket: 00:00 UTC


class ComponentRollup1d(Base):
    """One component's UTC day: the sum of its checks' days (retired checks included). Derived
    from rollup_1d by the same job; it makes a quarter's latency percentiles for every component
    a read of a few thousand rows instead of a hundred thousand."""

    __table__ = Table(
        "component_rollup_1d",
        Base.metadata,
        Column("component", String(200), nullable=False),
        Column("bucket", EpochMs, nullable=False),
        *_summary_columns(),
        PrimaryKeyConstraint("component", "bucket", name="pk_component_rollup_1d"),
        Index("ix_component_rollup_1d_bucket", "bucket"),
        sqlite_with_rowid=False,
    )




class MarkRow(Base):
    """Named instants the housekeeping job keeps between runs and restarts: `rollups` = every
    result written before it is reflected in the rollups (storage.rollups)."""

    __tablename__ = "history_marks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    ts: Mapped[datetime] = mapped_column(EpochMs)


class MaintenanceRow(Base):
    """A maintenance window, one-off (`starts_at`…`ends_at`) or recurring (`recurrence`, bounded
    by `starts_at`/`ends_at` when set), over components and/or checks (fnmatch patterns).
    Windows from the config file carry `config_key` (their name) and are retired, not deleted,
    when they leave the config, so the past occurrences stay out of uptime figures."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # "config" | "api"
    config_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    components: Mapped[list[str]] = mapped_column(JSON)
    checks: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(EpochMs)
    retired_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
