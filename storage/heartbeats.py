"""Heartbeat pings: record one, read a check's newest. Keyword-only arguments; the caller owns the
session and the transaction. Knows nothing of how pings are judged (probes/heartbeat.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.heartbeat_models import PingRow

__all__ = ["KEPT_PINGS", "StoredPing", "add_ping", "recent_pings"]

KEPT_PINGS = 100
"""Pings kept per check (older ones go when a new one comes): a judgement reads the newest 20;
the rest are a short trail to look at by hand. Counted, not aged: a weekly job's last ping
must outlive any time window."""


@dataclass(frozen=True, slots=True)
class StoredPing:
    id: int
    ts_ms: int
    kind: str
    exit_status: int | None
    body: str


def add_ping(session: Session, *, check_id: str, ts: float, kind: str, exit_status: int | None,
             body: str) -> None:
    """Store one ping (`ts` in unix seconds) and drop the check's pings beyond KEPT_PINGS."""
    session.add(PingRow(check_id=check_id, ts=ts, kind=kind, exit_status=exit_status, body=body))
    session.flush()
    # two statements: MySQL refuses a DELETE whose subquery reads the same table
    oldest_kept = session.scalar(
        select(PingRow.id).where(PingRow.check_id == check_id)
        .order_by(PingRow.ts.desc(), PingRow.id.desc()).offset(KEPT_PINGS - 1).limit(1)
    )
    if oldest_kept is not None:
        session.execute(delete(PingRow).where(PingRow.check_id == check_id, PingRow.id < oldest_kept))


def recent_pings(session: Session, *, check_id: str, limit: int) -> list[StoredPing]:
    """The check's newest `limit` pings, newest first."""
    rows = session.execute(
        select(PingRow.id, PingRow.ts, PingRow.kind, PingRow.exit_status, PingRow.body)
        .where(PingRow.check_id == check_id)
        .order_by(PingRow.ts.desc(), PingRow.id.desc())
        .limit(limit)
    )
    return [StoredPing(r.id, round(r.ts.timestamp() * 1000), r.kind, r.exit_status, r.body or "") for r in rows]
