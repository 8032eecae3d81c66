"""Tables of remote agents (docs/agents.md): their last contact, the results they pushed waiting for
their check's holder, the checks their discovery found, and the requests to recompute rollups for
results written late. Schema only: the queries are in storage/agents.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import ID_LENGTH, REASON_LENGTH, Base, EpochMs

AGENT_NAME_LENGTH = 63  # monitor.remote.config: a location name
SOURCE_LENGTH = 300  # "cluster:<name>:<part>"
SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements an INTEGER PRIMARY KEY only


class AgentContactRow(Base):
    """What the centre last heard from each agent (any process answering it writes the row)."""

    __tablename__ = "agent_contacts"

    name: Mapped[str] = mapped_column(String(AGENT_NAME_LENGTH), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(EpochMs)
    last_seen: Mapped[datetime] = mapped_column(EpochMs)
    last_push: Mapped[datetime | None] = mapped_column(EpochMs, nullable=True)
    address: Mapped[str] = mapped_column(String(100), default="")
    clock_offset: Mapped[float | None] = mapped_column(Double, nullable=True)
    buffered: Mapped[int] = mapped_column(BigInteger, default=0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    results: Mapped[int] = mapped_column(BigInteger, default=0)
    """Results accepted from it (new ones, not repeats) since it first reported."""
    agent_version: Mapped[str] = mapped_column(String(40), default="")
    config_version: Mapped[str] = mapped_column(String(64), default="")


class InboxRow(Base):
    """A pushed result the holder of its check has not taken into its state yet. The result itself
    is in `results` already (under its series id); this row only tells the holder, in arrival
    order, which is new. The holder deletes what it took."""

    __tablename__ = "agent_inbox"

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    series: Mapped[str] = mapped_column(String(ID_LENGTH))
    """The id the result is stored under: the check id, or `<check id>@<location>` for a check
    run in several locations."""
    check_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    location: Mapped[str] = mapped_column(String(AGENT_NAME_LENGTH))
    shard: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(EpochMs)
    status: Mapped[str] = mapped_column(String(16))
    latency: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH), default="")
    received_at: Mapped[datetime] = mapped_column(EpochMs)

    __table_args__ = (
        Index("uq_agent_inbox_series_ts", "series", "ts", unique=True),
        Index("ix_agent_inbox_shard_seq", "shard", "seq"),
    )


class DiscoveredRow(Base):
    """The checks an agent's cluster discovery found, per source (`cluster:<name>:nodes` ...)."""

    __tablename__ = "agent_discovered"

    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH), primary_key=True)
    agent: Mapped[str] = mapped_column(String(AGENT_NAME_LENGTH))
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(EpochMs)


class RollupRequestRow(Base):
    """Results were written for times the rollups may have passed already (an agent's buffer, a
    process's writer after a database outage): the leader's rollup run recomputes from `earliest`."""

    __tablename__ = "rollup_requests"

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    earliest: Mapped[datetime] = mapped_column(EpochMs)
    created_at: Mapped[datetime] = mapped_column(EpochMs)
