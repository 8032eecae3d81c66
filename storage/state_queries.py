"""The SQL under the history queries: the catalogue at an instant, each subject's last change at
or before an instant (one indexed lookup per subject), changes in a window, rollups merged over
a window. Private to storage.history and storage.uptime; times are integer milliseconds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.orm import Session

from storage import raw
from storage.intervals import Span, spans_from
from storage.latency import BIN_COLUMNS, Summary
from storage.maintenance import MaintenanceIndex, list_windows
from storage.models import CheckRow, ComponentChangeRow, ResultRow, StateChangeRow
from storage.mstime import DAY_MS, HOUR_MS, ceil_to, floor_to, ms_col, window_ms
from storage.retention import Retention
from storage.rollup_models import ComponentRollup1d, MarkRow, Rollup1d, Rollup1h
from storage.rollups import MARK as ROLLUP_MARK

Kind = Literal["check", "component"]
_CHANGES = {"check": StateChangeRow.__table__, "component": ComponentChangeRow.__table__}
_SUBJECT = {"check": "check_id", "component": "component"}
_CHECKS = CheckRow.__table__
_TS, _NEW, _TS_NEW_REASON = itemgetter(1), itemgetter(2), itemgetter(1, 2, 3)  # of changes_between's rows


# -- the catalogue -----------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class CatalogueEntry:
    id: str
    component: str
    name: str
    kind: str
    retired_ms: int | None


def catalogue_filter(start_ms: int | None, end_ms: int | None = None, component: str | None = None) -> list[Any]:
    """Checks that existed at some time in [start, end) (configured before `end`, not retired
    before `start`; end None: at the instant `start`), of one component if given."""
    out: list[Any] = []
    if start_ms is not None:
        end_ms = start_ms + 1 if end_ms is None else end_ms
        retired = ms_col(_CHECKS.c.retired_at)
        out += [ms_col(_CHECKS.c.first_seen) < end_ms, or_(_CHECKS.c.retired_at.is_(None), retired > start_ms)]
    if component is not None:
        out.append(_CHECKS.c.component == component)
    return out


def catalogue(
    session: Session, *, start_ms: int | None, end_ms: int | None = None, component: str | None = None
) -> list[CatalogueEntry]:
    """The checks that existed in [start, end) (at the instant `start` if end is None; all
    ever known if start is None), ordered by id."""
    rows = session.execute(
        select(_CHECKS.c.id, _CHECKS.c.component, _CHECKS.c.name, _CHECKS.c.kind,
               ms_col(_CHECKS.c.retired_at).label("retired"))
        .where(*catalogue_filter(start_ms, end_ms, component))
        .order_by(_CHECKS.c.id)
    )
    return [CatalogueEntry(r.id, r.component, r.name, r.kind, r.retired) for r in rows]


def subjects_query(
    kind: Kind, start_ms: int | None, end_ms: int | None = None, component: str | None = None
) -> Select[Any]:
    """One column `subject`: the check ids, or the component names, of catalogue(start, end)."""
    column = _CHECKS.c.id if kind == "check" else _CHECKS.c.component
    query = select(column.label("subject")).where(*catalogue_filter(start_ms, end_ms, component))
    return query if kind == "check" else query.distinct()


# -- changes -----------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class ChangeRec:
    subject: str
    ts: int
    old: str
    new: str
    reason: str


def latest_at(session: Session, *, kind: Kind, subjects: Select[Any], at_ms: int) -> dict[str, ChangeRec]:
    """Each subject's last change at or before `at_ms`: per subject one probe of the
    (subject, ts) unique index (LATERAL on PostgreSQL, a correlated MAX elsewhere)."""
    table = _CHANGES[kind]
    subject = table.c[_SUBJECT[kind]]
    ts = ms_col(table.c.ts)
    wanted = subjects.subquery("wanted")
    if session.get_bind().dialect.name == "postgresql":
        last = (
            select(ts.label("ts"), table.c.old, table.c.new, table.c.reason)
            .where(subject == wanted.c.subject, ts <= at_ms)
            .order_by(table.c.ts.desc())
            .limit(1)
            .lateral("last")
        )
        query = (
            select(wanted.c.subject, last.c.ts, last.c.old, last.c.new, last.c.reason)
            .select_from(wanted)
            .join(last, true())
        )
    else:
        inner = table.alias("inner_changes")
        latest = (
            select(func.max(ms_col(inner.c.ts)))
            .where(inner.c[_SUBJECT[kind]] == wanted.c.subject, ms_col(inner.c.ts) <= at_ms)
            .scalar_subquery()
        )
        query = (
            select(wanted.c.subject, ts.label("ts"), table.c.old, table.c.new, table.c.reason)
            .select_from(wanted)
            .join(table, and_(subject == wanted.c.subject, ts == latest))
        )
    return {r.subject: ChangeRec(r.subject, r.ts, r.old, r.new, r.reason) for r in session.execute(query)}


def changes_between(
    session: Session, *, kind: Kind, start_ms: int, end_ms: int, subjects: Select[Any] | None = None,
    states: Iterable[str] | None = None, reasons: bool = True,
) -> dict[str, list[Any]]:
    """Changes with start < ts < end, per subject in time order (optionally only to `states`):
    the database's rows (there may be tens of thousands), `(subject, ts, new, reason, old)` with
    ts in ms, readable by position (fast) or by those names; only `(subject, ts, new)` without
    `reasons`, as plain tuples read by position (a fraction of the work for a quarter of changes)."""
    table = _CHANGES[kind]
    subject = table.c[_SUBJECT[kind]]
    ts = ms_col(table.c.ts)
    columns = [subject.label("subject"), ts.label("ts"), table.c.new]
    if reasons:
        columns += [table.c.reason, table.c.old]
    query = select(*columns).where(ts > start_ms, ts < end_ms)
    if subjects is not None:
        query = query.where(subject.in_(subjects.scalar_subquery()))
    if states is not None:
        query = query.where(table.c.new.in_(list(states)))
    out: dict[str, list[Any]] = {}
    for r in _fetch(session, query.order_by(table.c.ts), plain=not reasons):
        found = out.get(r[0])
        if found is None:
            out[r[0]] = [r]
        else:
            found.append(r)
    return out


def _fetch(session: Session, query: Select[Any], *, plain: bool) -> list[Any]:
    """The rows of `query`; `plain`: as the driver's tuples, read by position only. A quarter of a
    hundred components' changes is ~35,000 rows: building SQLAlchemy Rows for them took longer
    than the query itself (the status page's uptime and overview both read them). Only for
    columns the driver already returns as Python wants them (strings, integers)."""
    if not plain:
        return session.execute(query).all()
    result = session.connection().execute(query)  # Core: always a CursorResult, whatever the statement
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def nearest_change(session: Session, *, at_ms: int, after: bool, component: str | None) -> ChangeRec | None:
    """The first check change strictly after `at_ms`, or the last strictly before it."""
    table = _CHANGES["check"]
    ts = ms_col(table.c.ts)
    query = select(table.c.check_id.label("subject"), ts.label("ts"), table.c.old, table.c.new, table.c.reason)
    query = query.where(ts > at_ms).order_by(table.c.ts) if after else \
        query.where(ts < at_ms).order_by(table.c.ts.desc())
    if component is not None:
        query = query.where(table.c.check_id.in_(select(_CHECKS.c.id).where(_CHECKS.c.component == component)))
    r = session.execute(query.limit(1)).first()
    return None if r is None else ChangeRec(r.subject, r.ts, r.old, r.new, r.reason)


def origins(session: Session, *, kind: Kind, subjects: Select[Any]) -> dict[str, int]:
    """When each subject came to exist (ms): a check's `first_seen`, a component's earliest
    among its checks (retired ones included). Before that it has no history at all."""
    column = _CHECKS.c.id if kind == "check" else _CHECKS.c.component
    query = (
        select(column.label("subject"), func.min(ms_col(_CHECKS.c.first_seen)).label("origin"))
        .where(column.in_(subjects.scalar_subquery()))
        .group_by(column)
    )
    return {r.subject: r.origin for r in session.execute(query)}


def spans_by_subject(
    session: Session, *, kind: Kind, subjects: Select[Any], start_ms: int, end_ms: int,
    filter_changes: bool = True, reasons: bool = True,
) -> dict[str, list[Span]]:
    """Every subject's state spans over [start, end): its state at `start` then its changes;
    none before the subject existed (see storage.intervals.spans_from), `unknown` from then to
    its first recorded state. `filter_changes=False` reads all changes in the window (one index
    range) and keeps those of the subjects: faster when the subjects are most of them. Without
    `reasons` the spans' reasons are empty (uptime figures do not need them)."""
    initial = latest_at(session, kind=kind, subjects=subjects, at_ms=start_ms)
    changes = changes_between(session, kind=kind, start_ms=start_ms, end_ms=end_ms,
                              subjects=subjects if filter_changes else None, reasons=reasons)
    born = origins(session, kind=kind, subjects=subjects)
    out = {}
    for name in session.scalars(subjects).all():
        first = initial.get(name)
        rows = changes.get(name, ())
        out[name] = spans_from(
            None if first is None else (first.new, first.ts, first.reason),
            # (ts, new, reason), built in C: there may be tens of thousands
            map(_TS_NEW_REASON, rows) if reasons else zip(map(_TS, rows), map(_NEW, rows), repeat("")),
            start_ms,
            end_ms,
            origin=born.get(name),
        )
    return out


# -- results -----------------------------------------------------------------------------------
def last_results_at(session: Session, *, subjects: Select[Any], at_ms: int) -> dict[str, Any]:
    """Each check's last raw result at or before `at_ms`: one probe of the results' (check_id,
    ts) key per check (LATERAL on PostgreSQL, a correlated MAX elsewhere). Rows with
    check_id, ts (ms), status, latency, reason."""
    table = ResultRow.__table__
    ts = ms_col(table.c.ts)
    wanted = subjects.subquery("wanted")
    if session.get_bind().dialect.name == "postgresql":
        last = (
            select(ts.label("ts"), table.c.status, table.c.latency, table.c.reason)
            .where(table.c.check_id == wanted.c.subject, ts <= at_ms)
            .order_by(table.c.ts.desc())
            .limit(1)
            .lateral("last")
        )
        query = (
            select(wanted.c.subject.label("check_id"), last.c.ts, last.c.status, last.c.latency, last.c.reason)
            .select_from(wanted)
            .join(last, true())
        )
    else:
        inner = table.alias("inner_results")
        latest = (
            select(func.max(ms_col(inner.c.ts)))
            .where(inner.c.check_id == wanted.c.subject, ms_col(inner.c.ts) <= at_ms)
            .scalar_subquery()
        )
        query = (
            select(table.c.check_id, ts.label("ts"), table.c.status, table.c.latency, table.c.reason)
            .select_from(wanted)
            .join(table, and_(table.c.check_id == wanted.c.subject, ts == latest))
        )
    out: dict[str, Any] = {r.check_id: r for r in session.execute(query)}
    # older results may be packed (storage/raw.py): those of checks with nothing newer here
    ids = list(session.scalars(subjects))
    packed = raw.latest_packed(session, check_ids=ids, at_ms=at_ms, newer_than={c: r.ts for c, r in out.items()},
                               details=False)
    for check_id, p in packed.items():
        if check_id not in out or p.ts_ms > out[check_id].ts:
            out[check_id] = _LastResult(check_id, p.ts_ms, p.status, p.latency, p.reason)
    return out


class _LastResult(NamedTuple):
    check_id: str
    ts: int  # ms
    status: str
    latency: float | None
    reason: str


# -- rollups -----------------------------------------------------------------------------------
def _summary_select(table: Any) -> list[Any]:
    """Merged buckets in Summary.from_values order."""
    return [
        *(func.sum(table.c[n]).label(n) for n in ("runs", "down", "degraded", "unknown", "lat_sum")),
        func.max(table.c.lat_max).label("lat_max"),
        *(func.sum(table.c[n]).label(n) for n in BIN_COLUMNS),
    ]


def _parts(start_ms: int, end_ms: int, now_ms: int, retention: Retention, rolled_ms: int | None = None
           ) -> list[tuple[str, int, int]]:
    """[start, end) as ("1d" | "1h", from, to) pieces: the whole days inside, the hours that
    overlap the rest (whole days again where hourly rollups have expired). A window whose last
    hours reach the rollups' watermark `rolled_ms` (no hourly rollup after them) takes its last
    day whole: that day's rollup is exactly the sum of its hours so far, read in one row per
    subject instead of a thousand checks' hours."""
    d0, d1 = ceil_to(start_ms, DAY_MS), floor_to(end_ms, DAY_MS)
    h0, h1 = floor_to(start_ms, HOUR_MS), ceil_to(end_ms, HOUR_MS)
    keep_1h = window_ms(retention.rollup_1h)
    hourly_from = None if keep_1h is None else now_ms - keep_1h
    parts: list[tuple[str, int, int]] = []
    if d0 >= d1:
        parts.append(("1h", h0, h1))
    else:
        parts += [("1d", d0, d1), ("1h", h0, d0), ("1h", d1, h1)]
    if hourly_from is not None:  # hours already deleted: take their whole days instead
        fixed = []
        for grain, a, b in parts:
            if grain == "1h" and a < hourly_from:
                fixed.append(("1d", floor_to(a, DAY_MS), ceil_to(min(b, hourly_from), DAY_MS)))
                a = max(a, ceil_to(hourly_from, DAY_MS))
            fixed.append((grain, a, b))
        parts = fixed
    last_day_whole = rolled_ms is not None and h1 > floor_to(rolled_ms, HOUR_MS) and d0 < d1
    if last_day_whole and parts and parts[-1] == ("1h", d1, h1):
        parts[-1] = ("1d", d1, d1 + DAY_MS)
    return [(grain, a, b) for grain, a, b in parts if a < b]


def _merge_into(out: dict[str, Summary], rows: Iterable[Any]) -> None:
    for row in rows:
        summary = Summary.from_values(row[1:])
        if row[0] in out:
            out[row[0]].merge(summary)
        else:
            out[row[0]] = summary


def _rolled_up_to(session: Session) -> int | None:
    """The rollup job's watermark (storage.rollups' `rollups` mark, ms): results stamped before
    it are in the rollups, later ones not yet (None: the job never ran)."""
    return session.scalar(select(ms_col(MarkRow.ts)).where(MarkRow.name == ROLLUP_MARK))


def _add_unrolled(
    session: Session, out: dict[str, Summary], *, start_ms: int, end_ms: int, mark: int | None, subject: Any,
    where: list[Any], join_checks: bool,
) -> None:
    """Count into `out` the raw results of [start, end) the rollups do not hold yet (stamped at or
    after the watermark `mark`: the last few minutes, or everything before the job's first run),
    so a new check's runs show at once instead of `runs: 0` until the next rollup."""
    lo = start_ms if mark is None else max(start_ms, mark)
    if lo >= end_ms:
        return
    table = ResultRow.__table__
    ts = ms_col(table.c.ts)
    query = select(subject, table.c.status, table.c.latency).where(ts >= lo, ts < end_ms, *where)
    if join_checks:
        query = query.select_from(table.join(_CHECKS, _CHECKS.c.id == table.c.check_id))
    for name, status, latency in session.execute(query):
        out.setdefault(name, Summary()).add(status, latency)


def summaries_by_check(
    session: Session, *, start_ms: int, end_ms: int, check_ids: Select[Any] | None, now_ms: int,
    retention: Retention,
) -> dict[str, Summary]:
    """Runs and latency per check over [start, end), merged in SQL from the daily rollups of the
    whole days inside and the hourly ones of the hours overlapping the rest (daily ones again
    where hourly detail has expired), and the raw results not rolled up yet."""
    out: dict[str, Summary] = {}
    results = ResultRow.__table__
    mark = _rolled_up_to(session)
    _add_unrolled(session, out, start_ms=start_ms, end_ms=end_ms, mark=mark, subject=results.c.check_id,
                  join_checks=False,
                  where=[] if check_ids is None else [results.c.check_id.in_(check_ids.scalar_subquery())])
    for grain, a, b in _parts(start_ms, end_ms, now_ms, retention, mark):
        table = (Rollup1d if grain == "1d" else Rollup1h).__table__
        bucket = ms_col(table.c.bucket)
        query = select(table.c.check_id, *_summary_select(table)).where(bucket >= a, bucket < b)
        if check_ids is not None:
            query = query.where(table.c.check_id.in_(check_ids.scalar_subquery()))
        _merge_into(out, session.execute(query.group_by(table.c.check_id)).all())
    return out


def summaries_by_component(
    session: Session, *, start_ms: int, end_ms: int, component: str | None, now_ms: int, retention: Retention,
) -> dict[str, Summary]:
    """The same per component: whole days from component_rollup_1d (a hundred components over a
    quarter: ~9,000 rows), the hours at the edges from their checks' hourly rollups, the raw
    results not rolled up yet."""
    out: dict[str, Summary] = {}
    mark = _rolled_up_to(session)
    _add_unrolled(session, out, start_ms=start_ms, end_ms=end_ms, mark=mark, subject=_CHECKS.c.component,
                  join_checks=True, where=[] if component is None else [_CHECKS.c.component == component])
    for grain, a, b in _parts(start_ms, end_ms, now_ms, retention, mark):
        if grain == "1d":
            table = ComponentRollup1d.__table__
            query = select(table.c.component, *_summary_select(table)).group_by(table.c.component)
            if component is not None:
                query = query.where(table.c.component == component)
        else:
            table = Rollup1h.__table__
            query = (
                select(_CHECKS.c.component, *_summary_select(table))
                .select_from(table.join(_CHECKS, _CHECKS.c.id == table.c.check_id))
                .group_by(_CHECKS.c.component)
            )
            if component is not None:
                query = query.where(_CHECKS.c.component == component)
        bucket = ms_col(table.c.bucket)
        _merge_into(out, session.execute(query.where(bucket >= a, bucket < b)).all())
    return out


def maintenance_index(session: Session, *, start_ms: int, end_ms: int) -> MaintenanceIndex:
    return MaintenanceIndex(list_windows(session), start_ms, end_ms)
