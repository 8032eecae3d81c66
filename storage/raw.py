"""The one reader of raw results: the hot `results` rows and the packed `results_packed` rows
(storage/packing.py) merged into the same records, so no caller knows which table holds what.
Reads only; the caller owns the session and the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from storage import packing
from storage.models import CheckRow, ResultRow
from storage.mstime import HOUR_MS, ms_col, to_ms
from storage.packed_models import PackedResultRow

__all__ = ["RawResult", "count_results", "last_result_at", "latest_packed", "packed_in", "raw_results"]


_HOT = ResultRow.__table__
_PACKED = PackedResultRow.__table__


@dataclass(slots=True)
class RawResult:
    """One run, wherever it is stored: the attributes of a ResultRow."""

    check_id: str
    ts: datetime
    status: str
    latency: float | None
    reason: str
    details: dict[str, Any] | None

    @property
    def ts_ms(self) -> int:
        return round(self.ts.timestamp() * 1000)


def _opt_ms(value: datetime | int | None) -> int | None:
    return None if value is None else to_ms(value)


def _record(check_id: str, p: packing.Packed) -> RawResult:
    return RawResult(check_id, datetime.fromtimestamp(p.ts_ms / 1000, tz=UTC), p.status, p.latency, p.reason,
                     p.details)


def packed_in(session: Session, *, check_ids: Iterable[str] | None, start_ms: int | None, end_ms: int | None,
              newest_first: bool = False, details: bool = True) -> Iterable[tuple[str, int, list[packing.Packed]]]:
    """(check_id, hour, results in [start, end)) of the packed rows overlapping [start, end), by
    hour (then check); lazily, so a caller with enough can stop early. Without `details` the
    results' details are None (and not unpacked)."""
    query = select(_PACKED.c.check_id, _PACKED.c.hour, _PACKED.c.blob)
    if check_ids is not None:
        query = query.where(_PACKED.c.check_id.in_(list(check_ids)))
    if start_ms is not None:
        query = query.where(_PACKED.c.hour > start_ms - HOUR_MS, _PACKED.c.last_ms >= start_ms)
    if end_ms is not None:
        query = query.where(_PACKED.c.hour < end_ms, _PACKED.c.first_ms < end_ms)
    order = (_PACKED.c.hour.desc(), _PACKED.c.check_id) if newest_first else (_PACKED.c.hour, _PACKED.c.check_id)
    for row in session.execute(query.order_by(*order)):
        results = [
            p for p in packing.decode(row.blob, base_ms=row.hour, details=details)
            if (start_ms is None or p.ts_ms >= start_ms) and (end_ms is None or p.ts_ms < end_ms)
        ]
        yield row.check_id, row.hour, results


def raw_results(
    session: Session,
    *,
    check_ids: list[str] | None,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[RawResult]:
    """The results of `check_ids` (None: all) in [start, end) (datetimes or ms), in time order
    (ties by check id), newest first if asked, at most `limit`."""
    a, b = _opt_ms(start), _opt_ms(end)
    ts = ms_col(_HOT.c.ts)
    query = select(_HOT)
    if check_ids is not None:
        query = query.where(_HOT.c.check_id.in_(check_ids))
    if a is not None:
        query = query.where(ts >= a)
    if b is not None:
        query = query.where(ts < b)
    query = query.order_by(_HOT.c.ts.desc() if newest_first else _HOT.c.ts)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(select(ResultRow.check_id, ResultRow.ts, ResultRow.status, ResultRow.latency,
                                  ResultRow.reason, ResultRow.details).from_statement(query))
    # keyed by (check, ms): a result both packed and re-pushed since reads as the packed one, as
    # it will stay after the next compaction (what is stored first wins, as in `results`)
    out = {(r.check_id, _opt_ms(r.ts)): RawResult(*r) for r in rows}
    for check_id, hour, results in packed_in(session, check_ids=check_ids, start_ms=a, end_ms=b,
                                             newest_first=newest_first):
        if limit is not None and len(out) >= limit:
            # packed hours come in order: stop once `limit` results lie on the near side of this one
            if newest_first and sum(ms >= hour + HOUR_MS for _, ms in out) >= limit:
                break
            if not newest_first and sum(ms < hour for _, ms in out) >= limit:
                break
        out.update(((check_id, p.ts_ms), _record(check_id, p)) for p in results)
    ordered = sorted(out.values(), key=lambda r: (r.ts, r.check_id), reverse=newest_first)
    return ordered if limit is None else ordered[:limit]


def count_results(session: Session, *, check_id: str, start_ms: int, end_ms: int) -> int:
    """How many results one check has in [start, end): packed hours wholly inside counted from
    their stored count, only the (at most two) cut by the range unpacked."""
    ts = ms_col(_HOT.c.ts)
    hot_keys = {r[0] for r in session.execute(
        select(ts).where(_HOT.c.check_id == check_id, ts >= start_ms, ts < end_ms))}
    rows = session.execute(
        select(_PACKED.c.hour, _PACKED.c.count, _PACKED.c.first_ms, _PACKED.c.last_ms)
        .where(_PACKED.c.check_id == check_id, _PACKED.c.hour > start_ms - HOUR_MS, _PACKED.c.hour < end_ms,
               _PACKED.c.last_ms >= start_ms, _PACKED.c.first_ms < end_ms)
    ).all()
    n = len(hot_keys)
    hot_hours = {k - k % HOUR_MS for k in hot_keys}  # where a result may be both packed and hot
    for row in rows:
        if row.first_ms >= start_ms and row.last_ms < end_ms and row.hour not in hot_hours:
            n += row.count
            continue
        blob = session.scalar(select(_PACKED.c.blob).where(_PACKED.c.check_id == check_id,
                                                            _PACKED.c.hour == row.hour))
        n += sum(start_ms <= p.ts_ms < end_ms and p.ts_ms not in hot_keys
                 for p in packing.decode(blob, base_ms=row.hour, details=False))
    return n


def _heads(session: Session, check_ids: list[str], at_ms: int | None, lo: int | None, *, before: int
           ) -> list[Any]:
    """(check_id, hour, last_ms) of each check's last packed row before hour `before` holding a
    result <= at_ms, looking only at hours >= lo if given."""
    last = (select(_PACKED.c.check_id, func.max(_PACKED.c.hour).label("hour"))
            .where(_PACKED.c.check_id.in_(check_ids), _PACKED.c.hour < before)
            .group_by(_PACKED.c.check_id))
    if lo is not None:
        last = last.where(_PACKED.c.hour >= lo)
    if at_ms is not None:
        last = last.where(_PACKED.c.hour <= at_ms, _PACKED.c.first_ms <= at_ms)  # holds the last one <= at
    last = last.subquery()
    return session.execute(
        select(_PACKED.c.check_id, _PACKED.c.hour, _PACKED.c.last_ms)
        .join(last, and_(_PACKED.c.check_id == last.c.check_id, _PACKED.c.hour == last.c.hour))
    ).all()


_LOOKBACK_MS = 3 * HOUR_MS  # then look for each check's last packed row this close to the newest one
_IN_LIST_MAX = 50  # more checks than this: read the hour's rows for all checks and keep the wanted ones


def latest_packed(session: Session, *, check_ids: list[str] | None, at_ms: int | None = None,
                  newer_than: dict[str, int] | None = None, details: bool = True) -> dict[str, packing.Packed]:
    """Each check's last packed result at or before `at_ms` (None: the last of all), only for
    checks whose packed results may be newer than `newer_than[check]` (ms); details None unless
    asked. Checks: `check_ids`, or every check ever configured.

    Nearly every check has a row in the newest packed hour at or before `at_ms`, so that hour is
    read first, its blobs fetched in the same query, and only the times and one result of each
    are unpacked; checks it does not answer (silent for a while, or `at_ms` before their first
    run of that hour) are looked up per check."""
    newer_than = newer_than or {}
    top_q = select(func.max(_PACKED.c.hour))
    top = session.scalar(top_q if at_ms is None else top_q.where(_PACKED.c.hour <= at_ms))
    if top is None:
        return {}
    if check_ids is None:
        check_ids = list(session.scalars(select(CheckRow.id)))
    # a result from after the newest packed hour beats anything packed
    wanted = {c for c in check_ids if newer_than.get(c, -1) < top + HOUR_MS}
    out: dict[str, packing.Packed] = {}

    def take(check_id: str, hour: int, blob: bytes) -> bool:
        """Whether the blob holds a result <= at (kept if newer than `newer_than`)."""
        last = packing.last_at(blob, base_ms=hour, at_ms=at_ms, details=details)
        if last is not None and last.ts_ms > newer_than.get(check_id, -1):
            out[check_id] = last
        return last is not None

    if not wanted:
        return out
    query = select(_PACKED.c.check_id, _PACKED.c.blob).where(_PACKED.c.hour == top)
    if len(wanted) <= _IN_LIST_MAX:
        query = query.where(_PACKED.c.check_id.in_(sorted(wanted)))
    answered = set()
    for check_id, blob in session.execute(query):
        if check_id in wanted and take(check_id, top, blob):
            answered.add(check_id)
    rest = sorted(wanted - answered)
    if not rest:
        return out
    heads = _heads(session, rest, at_ms, top - _LOOKBACK_MS, before=top)
    found = {h.check_id for h in heads}
    if len(found) < len(rest):  # checks silent for hours: the slow way
        heads += _heads(session, [c for c in rest if c not in found], at_ms, None, before=top)
    by_hour: dict[int, list[str]] = {}
    for h in heads:
        if min(h.last_ms, at_ms if at_ms is not None else h.last_ms) > newer_than.get(h.check_id, -1):
            by_hour.setdefault(h.hour, []).append(h.check_id)
    for hour, ids in by_hour.items():
        for check_id, blob in session.execute(select(_PACKED.c.check_id, _PACKED.c.blob)
                                              .where(_PACKED.c.hour == hour, _PACKED.c.check_id.in_(ids))):
            take(check_id, hour, blob)
    return out


def last_result_at(session: Session, *, check_ids: list[str] | None, at: datetime | int | None = None
                   ) -> dict[str, RawResult]:
    """Each check's last result at or before `at` (None: its last result)."""
    at_ms = _opt_ms(at)
    inner = _HOT.alias("inner_results")
    latest = select(inner.c.check_id, func.max(ms_col(inner.c.ts)).label("ts")).group_by(inner.c.check_id)
    if check_ids is not None:
        latest = latest.where(inner.c.check_id.in_(check_ids))
    if at_ms is not None:
        latest = latest.where(ms_col(inner.c.ts) <= at_ms)
    latest = latest.subquery()
    rows = session.execute(
        select(ResultRow.check_id, ResultRow.ts, ResultRow.status, ResultRow.latency, ResultRow.reason,
               ResultRow.details)
        .join(latest, and_(ResultRow.check_id == latest.c.check_id, ms_col(ResultRow.ts) == latest.c.ts))
    )
    out = {r.check_id: RawResult(*r) for r in rows}
    packed = latest_packed(session, check_ids=check_ids, at_ms=at_ms,
                           newer_than={cid: r.ts_ms for cid, r in out.items()})
    for check_id, p in packed.items():
        if check_id not in out or p.ts_ms > out[check_id].ts_ms:
            out[check_id] = _record(check_id, p)
    return out
