"""Read and catalogue queries the service and the API need. Keyword-only arguments; the caller
owns the session/connection and the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import raw
from storage.db import insert_ignoring_duplicates
from storage.models import CheckRow, ResultRow, StateChangeRow
from storage.raw import RawResult


def sync_checks(session: Session, *, checks: list[dict[str, Any]], now: float) -> list[str]:
    """Record the configured checks: new ones inserted, changed settings updated, ones no longer
    configured retired (history kept), returning ones un-retired. Returns the retired ids.
    Each item: id, component, name, kind, settings (already redacted)."""
    existing = {row.id: row for row in session.scalars(select(CheckRow))}
    wanted = {c["id"]: c for c in checks}
    new_rows = [
        {**c, "first_seen": now, "updated_at": now, "retired_at": None}
        for cid, c in wanted.items()
        if cid not in existing
    ]
    if new_rows:
        session.execute(insert_ignoring_duplicates(session.get_bind(), CheckRow), new_rows)
    for cid, c in wanted.items():
        row = existing.get(cid)
        if row is not None and (
            row.settings != c["settings"] or row.retired_at is not None or row.kind != c["kind"]
        ):
            session.execute(
                update(CheckRow)
                .where(CheckRow.id == cid)
                .values(settings=c["settings"], kind=c["kind"], updated_at=now, retired_at=None)
            )
    retired = [cid for cid, row in existing.items() if cid not in wanted and row.retired_at is None]
    if retired:
        session.execute(
            update(CheckRow).where(CheckRow.id.in_(retired)).values(retired_at=now, updated_at=now)
        )
    return retired


def latest_states(session: Session, *, check_ids: list[str] | None = None) -> dict[str, tuple[str, datetime, str]]:
    """Each check's (of `check_ids`, None: all) last recorded state change: id → (state, since, reason)."""
    last = select(StateChangeRow.check_id, func.max(StateChangeRow.ts).label("ts")).group_by(StateChangeRow.check_id)
    if check_ids is not None:
        last = last.where(StateChangeRow.check_id.in_(check_ids))
    last = last.subquery()
    rows = session.execute(
        select(StateChangeRow.check_id, StateChangeRow.new, StateChangeRow.ts, StateChangeRow.reason).join(
            last, (StateChangeRow.check_id == last.c.check_id) & (StateChangeRow.ts == last.c.ts)
        )
    ).all()
    return {r.check_id: (r.new, r.ts, r.reason) for r in rows}


def latest_results(session: Session, *, check_ids: list[str] | None = None) -> dict[str, RawResult]:
    """Each check's most recent stored result."""
    return raw.last_result_at(session, check_ids=check_ids)


def results(
    session: Session,
    *,
    check_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[RawResult]:
    """A check's results in [start, end), newest first, at most `limit`."""
    return raw.raw_results(session, check_ids=[check_id], start=start, end=end, limit=limit, newest_first=True)


def state_changes(
    session: Session,
    *,
    check_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[StateChangeRow]:
    """State changes in [start, end), newest first."""
    query = select(StateChangeRow)
    if check_id is not None:
        query = query.where(StateChangeRow.check_id == check_id)
    if start is not None:
        query = query.where(StateChangeRow.ts >= start)
    if end is not None:
        query = query.where(StateChangeRow.ts < end)
    query = query.order_by(StateChangeRow.ts.desc()).limit(limit)
    return list(session.scalars(query))


def ping(session: Session) -> None:
    session.execute(select(1))


def recent_activity(session: Session, *, since: float) -> tuple[list[Any], list[Any]]:
    """Results and state changes stored with a time at or after `since` (unix seconds), oldest
    first: what other processes observed lately. Reads the hot results table only: results are
    packed hours after they are written, long after a reader looking seconds back has seen them."""
    results = session.execute(
        select(ResultRow.check_id, ResultRow.ts, ResultRow.status, ResultRow.latency, ResultRow.reason,
               ResultRow.details).where(ResultRow.ts >= since).order_by(ResultRow.ts)
    ).all()
    changes = session.execute(
        select(StateChangeRow.check_id, StateChangeRow.ts, StateChangeRow.old, StateChangeRow.new,
               StateChangeRow.reason).where(StateChangeRow.ts >= since).order_by(StateChangeRow.ts)
    ).all()
    return results, changes
