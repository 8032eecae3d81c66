"""History queries for the API and the status-history UI: the platform at an instant, state
timelines, a check's latency and status series, the overview page's data; uptime and incidents
live in storage.uptime and are re-exported here. Keyword-only arguments; the caller owns the
session. Times in and out are aware datetimes (UTC)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import raw
from storage.intervals import Span, cut_at, piece_figures
from storage.latency import Summary, decode_slots
from storage.maintenance import MaintenanceIndex, list_windows
from storage.models import CheckRow
from storage.mstime import DAY_MS, HOUR_MS, floor_to, from_ms, ms_col, to_ms, window_ms
from storage.queries import state_changes
from storage.records import (
    Change,
    ChangeList,
    CheckAt,
    CheckDaily,
    CheckHistory,
    CheckInfo,
    ComponentAt,
    HistoryPoint,
    Interval,
    MaintenanceOccurrence,
    MaintenanceWindowOut,
    Overview,
    OverviewComponent,
    ResultAt,
    Snapshot,
    SubjectTimeline,
    Timeline,
)
from storage.retention import Retention
from storage.rollup_models import Rollup1d, Rollup1h, Rollup5m
from storage.state_queries import (
    ChangeRec,
    catalogue,
    changes_between,
    last_results_at,
    latest_at,
    maintenance_index,
    nearest_change,
    spans_by_subject,
    subjects_query,
)
from storage.uptime import DEFAULT_SLO, daily_by_check, daily_series, incidents, uptime

__all__ = [
    "CHANGES_MAX",
    "DEFAULT_SLO",
    "MAX_POINTS",
    "STEPS_MS",
    "changes",
    "check_daily",
    "check_history",
    "check_info",
    "component_known",
    "incidents",
    "maintenance_windows",
    "overview",
    "round_step",
    "snapshot",
    "timeline",
    "uptime",
]

CHANGES_MAX = 1_000  # rows of one change list: a replay window's worth to click through
MAX_POINTS = 1000  # per series: more than a chart's width in pixels
MAX_GROUPING = 4
"""A series reads at most this many stored buckets per point it returns: beyond that the next
coarser grain is read instead (reading 30 days of 5-minute detail for 720 points would decode
8,640 buckets where 720 hourly rows say nearly the same)."""
TIMELINE_LIMIT = 50_000  # intervals per timeline answer
_MIN, _HOUR, _DAY = 60_000, HOUR_MS, DAY_MS
STEPS_MS: tuple[int, ...] = (
    *(1000 * s for s in (1, 2, 5, 10, 15, 30)),
    *(_MIN * m for m in (1, 2, 5, 10, 15, 30)),
    *(_HOUR * h for h in (1, 2, 3, 6, 12)),
    *(_DAY * d for d in (1, 2, 5, 10, 15, 30, 60, 90, 180, 360)),
)
"""The widths a series' points may have (ms): values a reader takes in at a glance ("5 min per
point"), each dividing the next bigger unit so that epoch-aligned points fall on round clock
times (every 15 minutes, every 6 hours, at midnight UTC). Longer than the last: its multiples."""
_SLOT_MS = 300_000


def _change(kind: str, rec: ChangeRec | None) -> Change | None:
    if rec is None:
        return None
    return Change.model_construct(kind=kind, subject=rec.subject, time=from_ms(rec.ts), old=rec.old, new=rec.new,
                                  reason=rec.reason)


def occurrences_out(index: MaintenanceIndex) -> list[MaintenanceOccurrence]:
    """The occurrences an index found, as API records."""
    return [
        MaintenanceOccurrence(
            window_id=w.id, name=w.name, reason=w.reason, source=w.source, start=from_ms(a), end=from_ms(b),
            components=list(w.components or []), checks=list(w.checks or []),
        )
        for w, a, b in index.occurring()
    ]


def maintenance_windows(
    session: Session, *, start: datetime, end: datetime, include_retired: bool = False
) -> list[MaintenanceWindowOut]:
    """Every stored maintenance window (retired config windows only if asked), each with its
    occurrences overlapping [start, end)."""
    a, b = to_ms(start), to_ms(end)
    out = []
    for w in list_windows(session, include_retired=include_retired):
        index = MaintenanceIndex([w], a, b)
        rec = w.recurrence or {}
        out.append(MaintenanceWindowOut(
            id=w.id, source=w.source, name=w.name, reason=w.reason, components=list(w.components or []),
            checks=list(w.checks or []), start=w.starts_at, end=w.ends_at, every=rec.get("every"),
            days=list(rec.get("days") or []), at=rec.get("at"),
            duration_seconds=rec.get("duration") if rec else (w.ends_at - w.starts_at).total_seconds(),
            timezone=rec.get("timezone"), created_at=w.created_at, retired_at=w.retired_at,
            occurrences=occurrences_out(index),
        ))
    return out


def snapshot(session: Session, *, at: datetime, component: str | None = None) -> Snapshot:
    """Every check and component as it stood at `at`: its state, since when and the change that
    put it there, the last raw result at or before `at` (while kept), whether a maintenance
    window was open; plus the nearest check changes before and after `at` (for stepping).
    Checks are those configured at `at` (retired ones included if not yet retired then).
    Cost: one index probe per check and per component, whatever the history's length."""
    at_ms = to_ms(at)
    entries = catalogue(session, start_ms=at_ms, component=component)
    checks_q = subjects_query("check", at_ms, component=component)
    changes = latest_at(session, kind="check", subjects=checks_q, at_ms=at_ms)
    comp_changes = latest_at(session, kind="component", subjects=subjects_query("component", at_ms,
                                                                               component=component), at_ms=at_ms)
    results = last_results_at(session, subjects=checks_q, at_ms=at_ms)
    index = maintenance_index(session, start_ms=at_ms, end_ms=at_ms + 1)
    checks_out: list[CheckAt] = []
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        rec = changes.get(e.id)
        res = results.get(e.id)
        state = rec.new if rec else "unknown"
        per_state = counts.setdefault(e.component, {})
        per_state[state] = per_state.get(state, 0) + 1
        checks_out.append(CheckAt.model_construct(  # trusted data: a thousand checks, no re-validation
            id=e.id, component=e.component, name=e.name, kind=e.kind, retired=e.retired_ms is not None,
            state=state, since=from_ms(rec.ts) if rec else None, reason=rec.reason if rec else "",
            change=_change("check", rec),
            last_result=None if res is None else ResultAt.model_construct(
                time=from_ms(res.ts), status=res.status, latency=res.latency, reason=res.reason),
            maintenance=bool(index.for_check(e.id, e.component)),
        ))
    components_out = []
    for name in sorted(counts):
        rec = comp_changes.get(name)
        components_out.append(ComponentAt(
            id=name, state=rec.new if rec else "unknown", since=from_ms(rec.ts) if rec else None,
            reason=rec.reason if rec else "", change=_change("component", rec), checks=counts[name],
            maintenance=bool(index.for_component(name)),
        ))
    return Snapshot(
        at=from_ms(at_ms),
        checks=checks_out,
        components=components_out,
        previous_change=_change("check", nearest_change(session, at_ms=at_ms, after=False, component=component)),
        next_change=_change("check", nearest_change(session, at_ms=at_ms, after=True, component=component)),
        maintenance=occurrences_out(index),
    )


def _intervals(spans: list[Span]) -> list[Interval]:
    return [Interval.model_construct(start=from_ms(s.start), end=from_ms(s.end), state=s.state,
                                     since=from_ms(s.since), reason=s.reason) for s in spans]


def timeline(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    component: str | None = None,
    include_checks: bool = True,
    limit: int = TIMELINE_LIMIT,
) -> Timeline:
    """State intervals over [start, end) of every component (or one) and of its checks, with
    the maintenance occurrences in the window. Each subject's intervals cover the window from
    its state at `start`, or from when it came to exist if later (unknown until its first
    recorded state; nothing before: no data), to `end`; a retired check's stop at its
    retirement. At most `limit` intervals: checks are dropped first (`truncated`)."""
    a, b = to_ms(start), to_ms(end)
    comps = spans_by_subject(session, kind="component",
                             subjects=subjects_query("component", a, b, component=component), start_ms=a, end_ms=b)
    out_checks: list[SubjectTimeline] = []
    total = sum(len(s) for s in comps.values())
    truncated = False
    if include_checks:
        entries = {e.id: e for e in catalogue(session, start_ms=a, end_ms=b, component=component)}
        check_spans = spans_by_subject(
            session, kind="check", subjects=subjects_query("check", a, b, component=component),
            start_ms=a, end_ms=b, filter_changes=component is not None,
        )
        for cid in sorted(check_spans):
            spans = cut_at(check_spans[cid], entries[cid].retired_ms)
            total += len(spans)
            out_checks.append(SubjectTimeline(id=cid, component=entries[cid].component, intervals=_intervals(spans)))
        if total > limit:
            out_checks, truncated = [], True
    out_comps = []
    budget = limit
    for name in sorted(comps):
        spans = comps[name][:budget]
        truncated = truncated or len(spans) < len(comps[name])
        budget -= len(spans)
        out_comps.append(SubjectTimeline(id=name, component=name, intervals=_intervals(spans)))
    return Timeline(
        start=from_ms(a), end=from_ms(b), components=out_comps, checks=out_checks,
        maintenance=occurrences_out(maintenance_index(session, start_ms=a, end_ms=b)), truncated=truncated,
    )


# -- one check's series ------------------------------------------------------------------------
def _point(t_ms: int, s: Summary) -> HistoryPoint:
    return HistoryPoint.model_construct(
        time=from_ms(t_ms), runs=s.runs, up=s.up, degraded=s.degraded, down=s.down, unknown=s.unknown,
        latency_mean=s.latency_mean, latency_p50=s.percentile(0.5), latency_p95=s.percentile(0.95),
        latency_max=s.lat_max,
    )


def _grouped(buckets: list[tuple[int, Summary]], step_ms: int) -> list[HistoryPoint]:
    """Merge time-ordered buckets into points of `step_ms` (aligned on the epoch)."""
    points: list[HistoryPoint] = []
    current: tuple[int, Summary] | None = None
    for t, summary in buckets:
        key = floor_to(t, step_ms)
        if current is None or current[0] != key:
            if current is not None:
                points.append(_point(*current))
            current = (key, Summary().merge(summary))
        else:
            current[1].merge(summary)
    if current is not None:
        points.append(_point(*current))
    return points


class _RawPoint(NamedTuple):
    ts: int  # ms
    status: str
    latency: float | None
    reason: str


def _raw_points(session: Session, check_id: str, a: int, b: int, group_ms: int | None) -> list[HistoryPoint]:
    rows = [_RawPoint(r.ts_ms, r.status, r.latency, r.reason)
            for r in raw.raw_results(session, check_ids=[check_id], start=a, end=b)]
    if group_ms is None:
        out = []
        for r in rows:
            s = Summary()
            s.add(r.status, r.latency)
            point = _point(r.ts, s)
            point.status, point.reason, point.latency = r.status, r.reason, r.latency
            out.append(point)
        return out
    buckets = []
    for r in rows:
        s = Summary()
        s.add(r.status, r.latency)
        buckets.append((r.ts, s))
    return _grouped(buckets, group_ms)


def _rollup_buckets(session: Session, grain: str, check_id: str, a: int, b: int) -> list[tuple[int, Summary]]:
    """The stored buckets of one check overlapping [a, b), in time order."""
    table = {"5m": Rollup5m, "1h": Rollup1h, "1d": Rollup1d}[grain].__table__
    bucket = ms_col(table.c.bucket)
    step = DAY_MS if grain == "1d" else HOUR_MS
    rows = session.execute(
        select(table, bucket.label("bucket_ms"))
        .where(table.c.check_id == check_id, bucket >= floor_to(a, step), bucket < b)
        .order_by(table.c.bucket)
    )
    if grain != "5m":
        return [(r.bucket_ms, Summary.from_columns(r)) for r in rows]
    out = []
    for r in rows:
        for i, slot in enumerate(decode_slots(r.detail)):
            t = r.bucket_ms + i * _SLOT_MS
            if slot is not None and t + _SLOT_MS > a and t < b:
                out.append((t, slot))
    return out


def round_step(start_ms: int, end_ms: int, *, grain_ms: int, max_points: int) -> int:
    """The finest of STEPS_MS (or a multiple of its last) that is a multiple of `grain_ms` (the
    stored buckets read: 1 s for raw results) and whose epoch-aligned steps touching
    [start, end) number at most `max_points`: the width of one point of a series."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, not {max_points}")

    def touched(step: int) -> int:
        return (max(end_ms, start_ms + 1) - 1) // step - start_ms // step + 1

    for step in STEPS_MS:
        if step >= grain_ms and step % grain_ms == 0 and touched(step) <= max_points:
            return step
    longest = STEPS_MS[-1]  # a multiple of every grain; k of them touch at most span / k + 2 steps
    k = max(1, (end_ms - start_ms) // (longest * max_points))
    while touched(k * longest) > max_points:
        k += 1
    return k * longest


def check_history(
    session: Session,
    *,
    check_id: str,
    start: datetime,
    end: datetime,
    now: datetime,
    max_points: int = MAX_POINTS,
    retention: Retention | None = None,
) -> CheckHistory | None:
    """One check's series over [start, end) in at most `max_points` points, from the finest data
    still kept that needs no more than MAX_GROUPING stored buckets per point: raw results (one
    point each, or grouped), then 5-minute, hourly, daily rollups (grouped when needed). Grouped
    points are `round_step` wide (a round multiple of the grain: 5 min, 1 h, 1 day …) and
    aligned on the epoch. Also the check's state intervals. None if the check was never known."""
    row = session.get(CheckRow, check_id)
    if row is None:
        return None
    retention = retention or Retention()
    a, b, now_ms = to_ms(start), to_ms(end), to_ms(now)
    span = max(b - a, 1)

    def kept(window: timedelta | None) -> bool:
        return window is None or a >= now_ms - window_ms(window)

    resolution, step_ms, points = None, None, []
    if kept(retention.raw):
        n = raw.count_results(session, check_id=check_id, start_ms=a, end_ms=b)
        if n <= max_points:
            resolution, points = "raw", _raw_points(session, check_id, a, b, None)
        elif n <= max_points * MAX_GROUPING:
            step_ms = round_step(a, b, grain_ms=1000, max_points=max_points)
            resolution, points = "raw", _raw_points(session, check_id, a, b, step_ms)
    if resolution is None:
        grain, grain_ms = "1d", DAY_MS
        for name, ms, window in (("5m", _SLOT_MS, retention.rollup_5m), ("1h", HOUR_MS, retention.rollup_1h)):
            if kept(window) and span / ms <= max_points * MAX_GROUPING:
                grain, grain_ms = name, ms
                break
        resolution = grain
        step_ms = round_step(a, b, grain_ms=grain_ms, max_points=max_points)
        points = _grouped(_rollup_buckets(session, grain, check_id, a, b), step_ms)
    states = spans_by_subject(session, kind="check", subjects=select(CheckRow.id.label("subject"))
                              .where(CheckRow.id == check_id), start_ms=a, end_ms=b)[check_id]
    return CheckHistory(
        check_id=check_id, start=from_ms(a), end=from_ms(b), resolution=resolution,
        step_seconds=None if step_ms is None else step_ms / 1000, points=points, states=_intervals(states),
    )


# -- the overview page -------------------------------------------------------------------------
def overview(
    session: Session, *, now: datetime, days: int = 90, slo: Callable[[str], float] | None = None
) -> Overview:
    """Everything the status overview needs in one call: each current component's state now
    (with its checks counted by state, and whether it is in maintenance), its availability and
    error budget over the last `days` UTC days (today so far included), and per day: availability,
    degraded/down/maintenance time, worst state, incidents. Time-based, from state changes; the
    days before a component existed have no data (worst and availability null), not unknown."""
    slo = slo or (lambda _name: DEFAULT_SLO)
    now_ms = to_ms(now)
    first_day = floor_to(now_ms, DAY_MS) - (days - 1) * DAY_MS
    edges = [first_day + i * DAY_MS for i in range(days)] + [now_ms]
    day_starts = [from_ms(e) for e in edges[:-1]]
    snap_checks = latest_at(session, kind="check", subjects=subjects_query("check", now_ms), at_ms=now_ms)
    entries = catalogue(session, start_ms=now_ms)
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        rec = snap_checks.get(e.id)
        state = rec.new if rec else "unknown"
        per_state = counts.setdefault(e.component, {})
        per_state[state] = per_state.get(state, 0) + 1
    components_now = subjects_query("component", now_ms)
    spans = spans_by_subject(session, kind="component", subjects=components_now, start_ms=first_day,
                             end_ms=now_ms, filter_changes=False, reasons=False)
    current = latest_at(session, kind="component", subjects=components_now, at_ms=now_ms)
    index = maintenance_index(session, start_ms=first_day, end_ms=now_ms + 1)
    out = []
    for name in sorted(counts):
        comp_spans = spans.get(name, [])
        maint = index.for_component(name)
        total, daily = daily_series(piece_figures(comp_spans, edges, maint))
        _, remaining = total.error_budget(slo(name))
        rec = current.get(name)
        out.append(OverviewComponent(
            id=name, state=rec.new if rec else "unknown", since=from_ms(rec.ts) if rec else None,
            reason=rec.reason if rec else "", checks=counts[name],
            maintenance=any(a <= now_ms < b for a, b in maint), slo=slo(name),
            availability=total.availability, error_budget_remaining=remaining, daily=daily,
        ))
    return Overview(at=from_ms(now_ms), days=days, day_starts=day_starts, components=out)



def changes(session: Session, *, start: datetime, end: datetime, limit: int = CHANGES_MAX) -> ChangeList:
    """Every check and component state change in [start, end), newest first (at one instant a
    component's change before its check's), at most `limit`: `truncated` when there were more."""
    checks = state_changes(session, start=start, end=end, limit=limit + 1)
    comps = changes_between(session, kind="component", start_ms=to_ms(start) - 1, end_ms=to_ms(end))
    rows = [Change.model_construct(kind="check", subject=r.check_id, time=r.ts, old=r.old, new=r.new,
                                   reason=r.reason) for r in checks]
    rows += [Change.model_construct(kind="component", subject=r.subject, time=from_ms(r.ts), old=r.old, new=r.new,
                                    reason=r.reason) for recs in comps.values() for r in recs]
    rows.sort(key=lambda c: (c.time, c.kind == "check"), reverse=True)
    return ChangeList(start=start, end=end, changes=rows[:limit], truncated=len(rows) > limit)


def check_daily(session: Session, *, check_id: str, now: datetime, days: int = 90) -> CheckDaily | None:
    """One check's availability and daily series over the last `days` UTC days (today so far
    included), as `overview()` gives them for components. None for a check never configured."""
    found = daily_by_check(session, check_ids=[check_id], now=now, days=days).get(check_id)
    if found is None:
        return None
    availability, daily = found
    now_ms = to_ms(now)
    first_day = floor_to(now_ms, DAY_MS) - (days - 1) * DAY_MS
    return CheckDaily(check_id=check_id, at=from_ms(now_ms), days=days,
                      day_starts=[from_ms(first_day + i * DAY_MS) for i in range(days)],
                      availability=availability, daily=daily)


def check_info(session: Session, *, check_id: str) -> CheckInfo | None:
    """A check from the catalogue (retired ones too); None when the id was never configured."""
    row = session.get(CheckRow, check_id)
    if row is None:
        return None
    return CheckInfo(id=row.id, name=row.name, component=row.component, kind=row.kind,
                     retired=row.retired_at is not None)


def component_known(session: Session, *, name: str) -> bool:
    """Whether any check ever configured (retired ones too) belongs to component `name`."""
    return session.scalars(subjects_query("component", None, component=name).limit(1)).first() is not None
