"""The heartbeat pings table: what jobs reported through /ping (storage/heartbeats.py reads and
writes it). No queries here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import ID_LENGTH, Base, EpochMs

PING_KIND_LENGTH = 16


class PingRow(Base):
    """One ping of a heartbeat check: its time, kind (`success`, `start`, `fail`), exit status
    (for `/ping/<token>/<0-255>`) and the first 10 KB of its body as text. Stored so that any
    process judges the check from every process's pings."""

    __tablename__ = "heartbeat_pings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    ts: Mapped[datetime] = mapped_column(EpochMs)
    kind: Mapped[str] = mapped_column(String(PING_KIND_LENGTH))
    exit_status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    body: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_heartbeat_pings_check_ts", "check_id", "ts"),)
