"""Lease tables: which process holds which shard (and the leader lease), and which processes are
alive. Schema only: the queries are in storage/leases.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import Base, EpochMs

LEASE_NAME_LENGTH = 64  # "shard:4095", "leader"
REPLICA_ID_LENGTH = 200  # engine.replica_id's bound


class LeaseRow(Base):
    """One lease: `shard:<n>` for each shard, `leader` for the housekeeping leader. A free lease has
    no holder. `fence` grows by one each time the lease changes hands, never otherwise: a write
    guarded by (holder, fence) cannot come from a process that lost the lease since."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(LEASE_NAME_LENGTH), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(REPLICA_ID_LENGTH), nullable=True)
    fence: Mapped[int] = mapped_column(BigInteger, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)


class ReplicaRow(Base):
    """One row per process sharing the database, rewritten at each of its lease rounds; alive while
    `expires_at` (the database's clock) is ahead. A process that stops cleanly deletes its row."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(REPLICA_ID_LENGTH), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(EpochMs)
    last_renewal: Mapped[datetime] = mapped_column(EpochMs)
    expires_at: Mapped[datetime] = mapped_column(EpochMs)
    shard_count: Mapped[int] = mapped_column(Integer)
    """The process's `engine.shards`: processes that disagree cannot share the checks."""
    shards: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    leader: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str] = mapped_column(String(40), default="")
    process: Mapped[str] = mapped_column(String(200), default="")
    """"<boot id>:<pid namespace>:<pid>:<start time>" on Linux, else "": a process on the same host
    (same boot and pid namespace) can tell for sure that this one is gone, and take over at once
    instead of after lease_ttl (a restart, a worker the supervisor replaced)."""
