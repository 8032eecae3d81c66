"""Compaction: moves raw results of whole hours that are no longer hot and whose rollups are final
from `results` into `results_packed` (one row per check and hour). Knows nothing of scheduling.

An hour is packed only once it ended before the rollup watermark less rollups.LATE_MARGIN (the
rollups will not recompute it unless a late write asks, and then they read packed rows too, see
storage/raw.py) and before `now - hot`. Each hour is one transaction: delete its raw rows (RETURNING
them: exactly those, whatever the writer adds meanwhile), merge them into the packed rows (a late
write into an hour packed already), replace those. Rerunning or interrupting is safe."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from storage import packing, rollups
from storage.models import ResultRow
from storage.mstime import HOUR_MS, floor_to, ms_col
from storage.packed_models import PackedResultRow

__all__ = ["HOT", "CompactionReport", "compact"]

log = logging.getLogger(__name__)

HOT = timedelta(hours=2)
"""Raw results this recent stay in `results`: the current state, the last runs and the rollup
job's recomputes read them with plain indexed queries."""

_HOT_T = ResultRow.__table__
_PACKED = PackedResultRow.__table__


@dataclass(slots=True)
class CompactionReport:
    hours: int  # hours packed (each for every check with raw rows in it)
    rows: int  # raw rows moved
    seconds: float


def horizon(session: Session, *, now: float, hot: timedelta = HOT) -> int | None:
    """The end (ms, a whole hour) of what may be packed now; None before the first rollup run."""
    mark = rollups.get_mark(session)
    if mark is None:
        return None
    limit = min(round(now * 1000) - int(hot.total_seconds() * 1000),
                mark - int(rollups.LATE_MARGIN.total_seconds() * 1000))
    return floor_to(limit, HOUR_MS)


def pack_hour(session: Session, hour: int) -> int:
    """Move every check's raw results of [hour, hour + 1 h) into its packed row. Returns rows moved."""
    ts = ms_col(_HOT_T.c.ts)
    columns = (_HOT_T.c.check_id, ts.label("ts"), _HOT_T.c.status, _HOT_T.c.latency, _HOT_T.c.reason,
               _HOT_T.c.details)
    in_hour = (ts >= hour, ts < hour + HOUR_MS)
    if session.get_bind().dialect.delete_returning:
        # one statement takes exactly the rows it deletes: a row the writer adds meanwhile stays
        raw = session.execute(delete(_HOT_T).where(*in_hour).returning(*columns)).all()
    else:
        raw = session.execute(select(*columns).where(*in_hour)).all()
        session.execute(  # exactly the rows read, never the range
            delete(_HOT_T).where(_HOT_T.c.check_id == bindparam("c"), ts == bindparam("t")),
            [{"c": r.check_id, "t": r.ts} for r in raw],
        )
    if not raw:
        return 0
    by_check: dict[str, list[packing.Packed]] = defaultdict(list)
    for r in raw:
        by_check[r.check_id].append(packing.Packed(r.ts, r.status, r.latency, r.reason, r.details))
    existing = session.execute(
        select(_PACKED.c.check_id, _PACKED.c.blob)
        .where(_PACKED.c.hour == hour, _PACKED.c.check_id.in_(list(by_check)))
    ).all()
    for row in existing:  # a late write into a packed hour: what is packed already wins (same key)
        packed = packing.decode(row.blob, base_ms=hour)
        have = {p.ts_ms for p in packed}
        by_check[row.check_id] = packed + [p for p in by_check[row.check_id] if p.ts_ms not in have]
    if existing:
        session.execute(delete(_PACKED).where(_PACKED.c.hour == hour,
                                              _PACKED.c.check_id.in_([r.check_id for r in existing])))
    rows = []
    for check_id, results in by_check.items():
        results.sort(key=lambda p: p.ts_ms)
        rows.append({"check_id": check_id, "hour": hour, "count": len(results), "first_ms": results[0].ts_ms,
                     "last_ms": results[-1].ts_ms, "blob": packing.encode(results, base_ms=hour)})
    session.execute(insert(_PACKED), rows)
    return len(raw)


def compact(engine: Engine, *, now: float, hot: timedelta = HOT, stop: threading.Event | None = None
            ) -> CompactionReport:
    """Pack every whole hour of raw results before the horizon (see `horizon`), oldest first,
    one hour per transaction; `stop` ends it between hours."""
    t0 = time.perf_counter()
    hours = moved = 0
    with Session(engine) as session:
        end = horizon(session, now=now, hot=hot)
    if end is None:
        return CompactionReport(0, 0, time.perf_counter() - t0)
    while stop is None or not stop.is_set():
        with Session(engine) as session:
            oldest = session.scalar(select(func.min(ms_col(_HOT_T.c.ts))).where(ms_col(_HOT_T.c.ts) < end))
        if oldest is None:
            break
        with Session(engine) as session, session.begin():
            moved += pack_hour(session, floor_to(oldest, HOUR_MS))
        hours += 1
    if moved:
        log.info("compaction: packed %d raw results of %d hours", moved, hours)
    return CompactionReport(hours, moved, time.perf_counter() - t0)
