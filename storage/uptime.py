"""Quality of service over a window: availability, degraded and down time, incidents, MTTR and
error budget per component or per check (time-based, from state changes, maintenance left out),
latency percentiles from the rollups; and the incidents themselves. Keyword-only arguments;
the caller owns the session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.intervals import (
    NOT_UP,
    Incident,
    PieceFigures,
    Span,
    StateTimes,
    cut_at,
    incidents_of,
    overlap,
    piece_figures,
)
from storage.latency import Summary
from storage.models import CheckRow, ComponentChangeRow, StateChangeRow
from storage.mstime import DAY_MS, floor_to, from_ms, ms_col, to_ms
from storage.records import DailySeries, IncidentOut, IncidentReason, Uptime, UptimeEntry
from storage.retention import Retention
from storage.state_queries import (
    Kind,
    catalogue,
    changes_between,
    spans_by_subject,
    subjects_query,
    summaries_by_check,
    summaries_by_component,
)
from storage.state_queries import maintenance_index as _maintenance_index

__all__ = ["DEFAULT_SLO", "INCIDENT_REASONS", "daily_by_check", "daily_series", "incidents", "uptime"]

DEFAULT_SLO = 99.9
"""Percent, for components the config gives no `slo`: about 43 minutes of downtime per 30 days."""
INCIDENT_REASONS = 20  # state changes listed per incident
_MODELS = {"check": (StateChangeRow, "check_id"), "component": (ComponentChangeRow, "component")}


def _one(kind: Kind, name: str):
    column = CheckRow.id if kind == "check" else CheckRow.component
    query = select(column.label("subject")).where(column == name)
    return query if kind == "check" else query.distinct()


def _began(session: Session, kind: Kind, name: str, at_ms: int) -> int:
    """When the not-up stretch a subject is in at `at_ms` began: the first change after its last
    change to up or unknown at or before `at_ms`."""
    model, column = _MODELS[kind]
    subject, ts = getattr(model, column), ms_col(model.ts)
    good = session.scalar(
        select(func.max(ts)).where(subject == name, ts <= at_ms, model.new.not_in(tuple(NOT_UP)))
    )
    query = select(func.min(ts)).where(subject == name, ts <= at_ms)
    if good is not None:
        query = query.where(ts > good)
    return session.scalar(query) or at_ms


def _recovered(session: Session, kind: Kind, name: str, after_ms: int) -> int | None:
    """When a subject not up at `after_ms` next went up or unknown (None: not yet)."""
    model, column = _MODELS[kind]
    subject, ts = getattr(model, column), ms_col(model.ts)
    return session.scalar(
        select(func.min(ts)).where(subject == name, ts > after_ms, model.new.not_in(tuple(NOT_UP)))
    )


def _extended(
    session: Session, kind: Kind, spans: dict[str, list[Span]], a: int, b: int, *, now_ms: int, forward: bool
) -> dict[str, list[Span]]:
    """Spans of subjects whose incident crosses the window's start (and, with `forward`, its
    end) re-read over the incident's whole extent, so that incidents have their true bounds."""
    out = dict(spans)
    for name, subject_spans in spans.items():
        if not subject_spans:
            continue
        lo, hi = a, b
        if subject_spans[0].state in NOT_UP:
            lo = _began(session, kind, name, a)
        if forward and subject_spans[-1].state in NOT_UP and b < now_ms:
            hi = min(_recovered(session, kind, name, b) or now_ms, now_ms)
        if (lo, hi) != (a, b):
            out[name] = spans_by_subject(session, kind=kind, subjects=_one(kind, name), start_ms=lo, end_ms=hi)[name]
    return out


def _window(start: datetime, end: datetime, now: datetime) -> tuple[int, int, int]:
    """(start, end, now) in ms; the future is not measured, so `end` stops at now."""
    a, now_ms = to_ms(start), to_ms(now)
    return a, max(a, min(to_ms(end), now_ms)), now_ms


def uptime(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    by: Literal["check", "component"] = "component",
    component: str | None = None,
    slo: Callable[[str], float] | None = None,
    retention: Retention | None = None,
) -> Uptime:
    """Per component (or per check) over [start, end) (the part before `now`):
    availability = (up + degraded) / (up + degraded + down), all outside maintenance windows
    and unknown time left out; degraded and down time; incidents (not-up intervals overlapping
    the window, except those wholly in maintenance); MTTR (mean length of the incidents that
    ended in the window, counted from their true start); error budget against the SLO
    (`slo(component)`, percent); runs and latency p50/p95 from the rollups of the buckets
    overlapping the window. Components and checks are those configured during the window; the
    time before one existed counts nowhere (not measured, not unknown).
    A component's figures leave out the windows that name the component; a window that names
    only some of its checks leaves out time from those checks' figures, not the component's."""
    slo = slo or (lambda _name: DEFAULT_SLO)
    a, b, now_ms = _window(start, end, now)
    entries = catalogue(session, start_ms=a, end_ms=b, component=component)
    subjects = subjects_query(by, a, b, component=component)
    spans = spans_by_subject(session, kind=by, subjects=subjects, start_ms=a, end_ms=b,
                             filter_changes=component is not None, reasons=False)
    if by == "check":  # a retired check is not measured after its retirement
        retired = {e.id: e.retired_ms for e in entries}
        spans = {name: cut_at(s, retired.get(name)) for name, s in spans.items()}
    whole = _extended(session, by, spans, a, b, now_ms=now_ms, forward=False)
    index = _maintenance_index(session, start_ms=min((s[0].start for s in whole.values() if s), default=a),
                               end_ms=b)
    retention = retention or Retention()
    if by == "check":
        checks_q = subjects_query("check", a, b, component=component)
        latency = summaries_by_check(session, start_ms=a, end_ms=b, check_ids=checks_q if component else None,
                                     now_ms=now_ms, retention=retention)
    else:
        latency = summaries_by_component(session, start_ms=a, end_ms=b, component=component, now_ms=now_ms,
                                         retention=retention)
    component_of = {e.id: e.component for e in entries}
    out = []
    for name in sorted(spans):
        comp = name if by == "component" else component_of[name]
        maint = index.for_component(name) if by == "component" else index.for_check(name, comp)
        times = StateTimes.of(spans[name], maint)
        found = [i for i in incidents_of(whole[name]) if i.end > a and i.end - i.start > overlap(i.start, i.end, maint)]
        ended = [i.end - i.start for i in found if i.end < b]
        target = slo(comp)
        allowed, remaining = times.error_budget(target)
        s = latency.get(name) or Summary()
        out.append(UptimeEntry(
            id=name, component=comp, slo=target, availability=times.availability,
            measured_seconds=times.measured / 1000, up_seconds=times.by_state["up"] / 1000,
            degraded_seconds=times.by_state["degraded"] / 1000, down_seconds=times.by_state["down"] / 1000,
            unknown_seconds=times.by_state["unknown"] / 1000, maintenance_seconds=times.maintenance / 1000,
            error_budget_seconds=allowed / 1000, error_budget_remaining=remaining, incidents=len(found),
            mttr_seconds=sum(ended) / len(ended) / 1000 if ended else None,
            runs=s.runs, down_runs=s.down, degraded_runs=s.degraded, latency_mean=s.latency_mean,
            latency_p50=s.percentile(0.5), latency_p95=s.percentile(0.95),
        ))
    return Uptime(start=from_ms(a), end=from_ms(b), by=by, entries=out)


def incidents(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    component: str | None = None,
    limit: int = 1000,
) -> list[IncidentOut]:
    """Intervals during which a component was not up (degraded or down) that overlap [start,
    end), newest first, with their whole extent (they may begin before `start` and end after
    `end`; `end` null while ongoing), the worst state reached, the checks that went degraded or
    down during them with their reasons, and how much fell in maintenance windows."""
    a, b, now_ms = _window(start, end, now)
    spans = spans_by_subject(session, kind="component", subjects=subjects_query("component", a, b, component=component),
                             start_ms=a, end_ms=b)
    whole = _extended(session, "component", spans, a, b, now_ms=now_ms, forward=True)
    found: list[tuple[str, Incident]] = [
        (name, inc) for name, subject_spans in whole.items() for inc in incidents_of(subject_spans)
        if inc.end > a and inc.start < b
    ]
    found.sort(key=lambda item: item[1].start, reverse=True)
    found = found[:limit]
    if not found:
        return []
    lo, hi = min(i.start for _, i in found), max(i.end for _, i in found)
    involved = changes_between(
        session, kind="check", start_ms=lo - 1, end_ms=hi,
        subjects=select(CheckRow.id.label("subject")).where(CheckRow.component.in_({n for n, _ in found})),
        states=NOT_UP,
    )
    by_component: dict[str, list] = {}
    for cid, recs in involved.items():
        comp = cid.rsplit("/", 1)[0]  # ids are "<component>/<name>", names have no "/"
        by_component.setdefault(comp, []).extend(recs)
    index = _maintenance_index(session, start_ms=lo, end_ms=hi)
    out = []
    for name, inc in found:
        recs = sorted((r for r in by_component.get(name, ()) if inc.start <= r.ts < inc.end), key=lambda r: r.ts)
        ongoing = inc.end >= now_ms
        out.append(IncidentOut(
            component=name, start=from_ms(inc.start), end=None if ongoing else from_ms(inc.end), ongoing=ongoing,
            duration_seconds=(min(inc.end, now_ms) - inc.start) / 1000, worst=inc.worst,
            checks=sorted({r.subject for r in recs}),
            reasons=[IncidentReason(time=from_ms(r.ts), check_id=r.subject, state=r.new, reason=r.reason)
                     for r in recs[:INCIDENT_REASONS]],
            maintenance_seconds=overlap(inc.start, inc.end, index.for_component(name)) / 1000,
        ))
    return out


def daily_by_check(
    session: Session, *, check_ids: list[str], now: datetime, days: int = 90
) -> dict[str, tuple[float | None, DailySeries]]:
    """Per check (known to the catalogue) over the last `days` UTC days, today so far included:
    availability over the whole period (percent) and the daily series, as `overview()` gives them
    for components (the days start at 00:00 UTC; maintenance naming the check or its component
    left out; a retired check is not measured after its retirement)."""
    now_ms = to_ms(now)
    first_day = floor_to(now_ms, DAY_MS) - (days - 1) * DAY_MS
    edges = [first_day + i * DAY_MS for i in range(days)] + [now_ms]
    subjects = select(CheckRow.id.label("subject")).where(CheckRow.id.in_(check_ids))
    entries = {e.id: e for e in catalogue(session, start_ms=None) if e.id in set(check_ids)}
    spans = spans_by_subject(session, kind="check", subjects=subjects, start_ms=first_day, end_ms=now_ms,
                             reasons=False)
    index = _maintenance_index(session, start_ms=first_day, end_ms=now_ms + 1)
    out = {}
    for cid, entry in entries.items():
        fig = piece_figures(cut_at(spans.get(cid, []), entry.retired_ms), edges,
                            index.for_check(cid, entry.component))
        total, daily = daily_series(fig)
        out[cid] = (total.availability, daily)
    return out


def daily_series(fig: PieceFigures) -> tuple[StateTimes, DailySeries]:
    """The whole period's times and the per-day series of one subject's day figures (shared by
    the overview's components and the checks' bars, so both read the same)."""
    days = len(fig.up)
    total = StateTimes({"up": sum(fig.up), "degraded": sum(fig.degraded), "down": sum(fig.down),
                        "unknown": sum(fig.unknown)}, sum(fig.maintenance))
    return total, DailySeries.model_construct(  # a hundred subjects x 90 days: plain lists, no validation
        availability=[fig.availability(i) for i in range(days)],
        degraded_seconds=[ms / 1000 for ms in fig.degraded], down_seconds=[ms / 1000 for ms in fig.down],
        unknown_seconds=[ms / 1000 for ms in fig.unknown], maintenance_seconds=[ms / 1000 for ms in fig.maintenance],
        worst=[fig.worst(i) for i in range(days)], incidents=fig.incidents,
    )
