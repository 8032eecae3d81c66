"""Rollup maintenance: raw results → 5-minute and hourly rollups → daily rollups, by recomputing
whole buckets from their sources and replacing them (never by adding to a stored count), so a
retried, repeated or interrupted run can never count a result twice. Knows nothing of scheduling.

Why recompute rather than count results as the writer commits them: the writer's inserts skip
duplicates silently, a remote agent may re-push, and a restart loses in-memory counters; a whole
bucket recomputed from the raw rows is right whatever happened before. The cost is small: a run
re-reads the current hour (≤ 120 rows per check at a 30 s interval), every 5 minutes.
The watermark `rollups` in history_marks says up to when that has been done; results written
late (a database outage drained from the writer's buffer) are reported by `Backlog`, fed from
`Writer.listeners`, so their buckets are recomputed too."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, case, delete, func, insert, literal_column, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from storage import raw
from storage.latency import BIN_COLUMNS, BOUNDS, SLOTS_PER_HOUR, Summary, encode_slots
from storage.models import CheckRow, ResultRow
from storage.mstime import DAY_MS, HOUR_MS, ceil_to, floor_to, ms_col
from storage.rollup_models import ComponentRollup1d, MarkRow, Rollup1d, Rollup1h, Rollup5m

__all__ = ["Backlog", "RunReport", "rebuild_days", "rebuild_hours", "update"]

log = logging.getLogger(__name__)

SLOT_MS = 300_000  # 5 minutes
LATE_MARGIN = timedelta(minutes=5)
"""Each run also recomputes this far before the watermark: a result is stamped with the start of
its run and written after the run ends (up to its timeout) plus the writer's flush interval."""
CHUNK = timedelta(hours=6)
"""Hours recomputed per transaction: a first run over 7 days of raw results proceeds (and can
be interrupted) in steps, and on SQLite the writer never waits long for the lock."""
MARK = "rollups"

_RESULTS = ResultRow.__table__
_R5, _R1H, _R1D = Rollup5m.__table__, Rollup1h.__table__, Rollup1d.__table__
_C1D, _CHECKS = ComponentRollup1d.__table__, CheckRow.__table__


class Backlog:
    """The earliest result time written since the rollup job last looked. `note` runs on the
    writer thread (a Writer listener), `take`/`give_back` on the job's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._earliest: float | None = None

    def note(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        earliest = min(float(row["ts"]) for row in rows)
        self.give_back(earliest)

    def take(self) -> float | None:
        """The earliest time noted (unix seconds), forgetting it."""
        with self._lock:
            earliest, self._earliest = self._earliest, None
            return earliest

    def give_back(self, ts: float) -> None:
        with self._lock:
            self._earliest = ts if self._earliest is None else min(self._earliest, ts)


# -- recomputing buckets -----------------------------------------------------------------------
def _slot_aggregates(session: Session, start_ms: int, end_ms: int) -> Iterable[Any]:
    """Per check and 5-minute slot in [start, end): status counts, latency sum/max and the
    cumulative histogram counts (c_i = latencies below BOUNDS[i]), all computed by the database."""
    ts = ms_col(_RESULTS.c.ts)
    lat = case((_RESULTS.c.status.in_(("up", "degraded")), _RESULTS.c.latency))
    hot = (
        select(_RESULTS.c.check_id, ts.label("ts"), _RESULTS.c.status.label("status"), lat.label("lat"))
        .where(ts >= start_ms, ts < end_ms)
        .subquery()
    )
    slot = hot.c.ts - hot.c.ts % literal_column(str(SLOT_MS))
    status = hot.c.status
    query = select(
        hot.c.check_id,
        slot.label("slot"),
        func.count().label("runs"),
        func.sum(case((status == "down", 1), else_=0)).label("down"),
        func.sum(case((status == "degraded", 1), else_=0)).label("degraded"),
        func.sum(case((status.in_(("up", "down", "degraded")), 0), else_=1)).label("unknown"),
        func.sum(hot.c.lat).label("lat_sum"),
        func.max(hot.c.lat).label("lat_max"),
        func.count(hot.c.lat).label("lat_count"),
        *(func.sum(case((hot.c.lat < bound, 1), else_=0)).label(f"c{i}") for i, bound in enumerate(BOUNDS)),
    ).group_by(hot.c.check_id, slot)
    return session.execute(query)


_FIRST_C = 9  # position of c0 in _slot_aggregates' columns


def _summary_from_aggregate(row: Any) -> Summary:
    # positional access: this runs for every check and 5 minutes of a first run over days of results
    cumulative = [*map(int, row[_FIRST_C:]), int(row.lat_count)]
    bins = [cumulative[0], *(b - a for a, b in itertools.pairwise(cumulative))]
    return Summary(
        runs=int(row.runs),
        down=int(row.down),
        degraded=int(row.degraded),
        unknown=int(row.unknown),
        lat_sum=float(row.lat_sum or 0.0),
        lat_max=None if row.lat_max is None else float(row.lat_max),
        bins=bins,
    )


def rebuild_hours(session: Session, *, start_ms: int, end_ms: int) -> int:
    """Recompute the 5-minute and hourly rollups of every check for the hours in [start, end)
    (whole hours) from the raw results, then the daily rollups of the days they touch. The raw
    results of those hours must all still be kept. Returns the number of hourly rows written."""
    start_ms, end_ms = floor_to(start_ms, HOUR_MS), ceil_to(end_ms, HOUR_MS)
    hours: dict[tuple[str, int], list[Summary | None]] = {}
    for row in _slot_aggregates(session, start_ms, end_ms):
        hour = floor_to(int(row.slot), HOUR_MS)
        slots = hours.setdefault((row.check_id, hour), [None] * SLOTS_PER_HOUR)
        slots[(int(row.slot) - hour) // SLOT_MS] = _summary_from_aggregate(row)
    _add_packed(session, hours, start_ms, end_ms)
    for table in (_R5, _R1H):
        session.execute(delete(table).where(ms_col(table.c.bucket) >= start_ms, ms_col(table.c.bucket) < end_ms))
    if hours:
        session.execute(
            insert(_R5),
            [{"check_id": cid, "bucket": hour / 1000, "detail": encode_slots(slots)}
             for (cid, hour), slots in hours.items()],
        )
        session.execute(
            insert(_R1H),
            [{"check_id": cid, "bucket": hour / 1000, **Summary.merged(s for s in slots if s).columns()}
             for (cid, hour), slots in hours.items()],
        )
    rebuild_days(session, start_ms=start_ms, end_ms=end_ms)
    return len(hours)


def _add_packed(session: Session, hours: dict[tuple[str, int], list[Summary | None]], start_ms: int,
                end_ms: int) -> None:
    """Count the packed results of [start, end) into `hours` (storage/compaction.py packs only
    hours whose rollups were final, but a late write into such an hour recomputes it). A result
    both packed and in `results` (re-pushed after packing) was counted from `results` already."""
    hot: set[tuple[str, int]] | None = None
    for check_id, hour, results in raw.packed_in(session, check_ids=None, start_ms=start_ms, end_ms=end_ms,
                                                         details=False):
        if hot is None:  # only when there are packed rows: usually a few late writes then
            ts = ms_col(_RESULTS.c.ts)
            keys = select(_RESULTS.c.check_id, ts).where(ts >= start_ms, ts < end_ms)
            hot = {(r[0], r[1]) for r in session.execute(keys)}
        slots = hours.setdefault((check_id, hour), [None] * SLOTS_PER_HOUR)
        for p in results:
            if (check_id, p.ts_ms) in hot:
                continue
            i = (p.ts_ms - hour) // SLOT_MS
            if slots[i] is None:
                slots[i] = Summary()
            slots[i].add(p.status, p.latency)


def rebuild_days(session: Session, *, start_ms: int, end_ms: int) -> None:
    """Recompute the daily rollups of the UTC days touching [start, end) from the hourly ones
    (which must all still be kept for those days), then the components' days from those."""
    start_ms, end_ms = floor_to(start_ms, DAY_MS), ceil_to(end_ms, DAY_MS)
    hour = ms_col(_R1H.c.bucket)
    day = (hour - hour % literal_column(str(DAY_MS))).label("bucket")
    sums = [
        func.sum(_R1H.c[name]).label(name)
        for name in ("runs", "down", "degraded", "unknown", "lat_sum", *BIN_COLUMNS)
    ]
    source = (
        select(_R1H.c.check_id, day, func.max(_R1H.c.lat_max).label("lat_max"), *sums)
        .where(hour >= start_ms, hour < end_ms)
        .group_by(_R1H.c.check_id, day)
    )
    session.execute(delete(_R1D).where(ms_col(_R1D.c.bucket) >= start_ms, ms_col(_R1D.c.bucket) < end_ms))
    names = [c.name for c in source.selected_columns]
    session.execute(insert(_R1D).from_select(names, source))
    # and the components' days, from their checks' days
    day = ms_col(_R1D.c.bucket)
    sums = [func.sum(_R1D.c[name]).label(name) for name in ("runs", "down", "degraded", "unknown", "lat_sum",
                                                              *BIN_COLUMNS)]
    source = (
        select(_CHECKS.c.component, day.label("bucket"), func.max(_R1D.c.lat_max).label("lat_max"), *sums)
        .select_from(_R1D.join(_CHECKS, _CHECKS.c.id == _R1D.c.check_id))
        .where(day >= start_ms, day < end_ms)
        .group_by(_CHECKS.c.component, day)
    )
    session.execute(delete(_C1D).where(ms_col(_C1D.c.bucket) >= start_ms, ms_col(_C1D.c.bucket) < end_ms))
    session.execute(insert(_C1D).from_select([c.name for c in source.selected_columns], source))


# -- the watermark -----------------------------------------------------------------------------
def get_mark(session: Session, name: str = MARK) -> int | None:
    """A named instant from history_marks, in milliseconds (None if never set)."""
    return session.scalar(select(ms_col(MarkRow.ts)).where(MarkRow.name == name))


def set_mark(session: Session, name: str, ms: int) -> None:
    done = session.execute(sql_update(MarkRow).where(MarkRow.name == name).values(ts=ms / 1000))
    if not done.rowcount:
        session.execute(insert(MarkRow).values(name=name, ts=ms / 1000))


# -- the job -----------------------------------------------------------------------------------
@dataclass(slots=True)
class RunReport:
    start_ms: int | None  # first hour recomputed (None: nothing to do)
    end_ms: int | None
    hours_written: int
    seconds: float


def update(
    engine: Engine,
    *,
    now: float,
    backlog: Backlog | None = None,
    raw_retention: timedelta | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Bring the rollups up to `now` (unix seconds): recompute from the watermark (less
    LATE_MARGIN), or from the earliest late write the backlog noted, through the current hour;
    the first run ever starts at the oldest raw result. Hours whose raw results may already be
    partly deleted (older than `raw_retention`) are never recomputed. Safe to run repeatedly,
    concurrently with the writer, and after any interruption; `stop` ends it between chunks."""
    t0 = time.perf_counter()
    now_ms = round(now * 1000)
    late = backlog.take() if backlog is not None else None
    try:
        with Session(engine) as session:
            mark = get_mark(session)
            start = mark - int(LATE_MARGIN.total_seconds() * 1000) if mark is not None else None
            if start is None:
                start = session.scalar(select(func.min(ms_col(_RESULTS.c.ts))))
        if late is not None:
            start = min(start, round(late * 1000)) if start is not None else round(late * 1000)
        if start is None:  # no results yet
            with Session(engine) as session, session.begin():
                set_mark(session, MARK, now_ms)
            return RunReport(None, None, 0, time.perf_counter() - t0)
        start = floor_to(start, HOUR_MS)
        if raw_retention is not None:
            start = max(start, ceil_to(now_ms - int(raw_retention.total_seconds() * 1000), HOUR_MS))
        end = ceil_to(now_ms + 1, HOUR_MS)
        written = 0
        chunk_ms = int(CHUNK.total_seconds() * 1000)
        for a in range(start, end, chunk_ms):
            late = a / 1000  # what to give back if this chunk fails (or is not reached)
            if stop is not None and stop.is_set():
                return RunReport(start, a, written, time.perf_counter() - t0)
            b = min(a + chunk_ms, end)
            with Session(engine) as session, session.begin():
                written += rebuild_hours(session, start_ms=a, end_ms=b)
                set_mark(session, MARK, max(mark or 0, min(b, now_ms)))
        late = None
        return RunReport(start, end, written, time.perf_counter() - t0)
    finally:
        if late is not None and backlog is not None:
            backlog.give_back(late)
