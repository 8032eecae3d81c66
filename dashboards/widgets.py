"""One function per widget of the internal UI: what it shows, gathered from the engine (current
state) and the history backend (storage.history: snapshots, timelines, series from rollups,
uptime, incidents, maintenance windows) and alerting's event log. Read-only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

import plotly.graph_objects as go
from sqlalchemy.orm import Session

from dashboards import figures
from dashboards.intervals import Incident, Interval, Maintenance, incident_of, intervals_of, maintenance_of
from dashboards.latency import latency_series
from monitor.engine import Engine
from storage import alert_queries, history, queries
from storage.history_sql import changes_between, subjects_query
from storage.history_types import OverviewComponent
from storage.models import CheckRow
from storage.retention import Retention
from storage.uptime import daily_by_check

DAYS = 90  # the uptime bars' length
CHART_POINTS = 300  # points per check on a latency chart: finer is noise at chart width
COMPONENT_CHART_CHECKS = 10  # checks drawn on a component's latency chart, at most
TIMELINE_CHECK_ROWS = 60  # check rows on a component's timeline, at most (not-up ones first)
CHANGES_MAX = 1_000  # rows of the platform-wide change list
UPCOMING = 7 * 86400.0  # seconds: maintenance windows listed ahead of now
ALERT_SLACK = 300.0  # seconds after an incident's end in which its resolved notifications still count
ALERT_EVENTS_MAX = 2_000  # alert events read for one incident list
Slo = Callable[[str], float]


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(ts: float | datetime | None) -> str | None:
    """Unix seconds or an aware datetime → ISO 8601 UTC with milliseconds ('…Z')."""
    if ts is None:
        return None
    when = ts if isinstance(ts, datetime) else dt(ts)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- current state (engine memory) -------------------------------------------------------------
def overview(engine: Engine, *, now: float, component: str | None = None, check: str | None = None
             ) -> dict[str, Any]:
    """Overview list, live: every component and check with its confirmed state, as of `now`;
    only one component's (or one check's) when given."""
    checks = sorted(list(engine.state.checks.values()), key=lambda s: s.check.id)
    if component is not None:
        checks = [s for s in checks if s.check.component == component]
    if check is not None:
        checks = [s for s in checks if s.check.id == check]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for st in checks:
        check, last = st.check, st.last_result
        counts[check.component][st.status.value] += 1
        rows.append({
            "id": check.id, "name": check.name, "component": check.component, "kind": check.kind,
            "status": st.status.value, "since": iso(st.since), "reason": st.reason,
            "latency": None if last is None or last.latency is None else round(last.latency, 6),
            "last_run": iso(last.time) if last is not None else None,
        })
    components = [
        {"name": c.name, "status": c.status.value, "since": iso(c.since), "counts": dict(counts[c.name])}
        for c in sorted(list(engine.state.components.values()), key=lambda c: c.name)
        if (component is None and check is None) or c.name in counts
    ]
    return {"as_of": iso(now), "components": components, "checks": rows}


def _catalogue_row(session: Session, check_id: str) -> CheckRow | None:
    return session.get(CheckRow, check_id)


def check_header(engine: Engine, session: Session, check_id: str) -> dict[str, Any] | None:
    """A check page's heading: from the engine when configured, else from the catalogue (a
    retired check keeps its page and history). None when the id was never known."""
    state = engine.state.checks.get(check_id)
    if state is not None:
        c = state.check
        return {"id": c.id, "name": c.name, "component": c.component, "kind": c.kind, "retired": False}
    row = _catalogue_row(session, check_id)
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "component": row.component, "kind": row.kind, "retired": True}


def component_known(engine: Engine, session: Session, name: str) -> bool:
    return name in engine.state.components or bool(session.scalars(
        subjects_query("component", None, component=name).limit(1)).first())


# -- uptime bars -------------------------------------------------------------------------------
def _bar_days(day_starts: Sequence[datetime], daily: Any) -> list[dict[str, Any]]:
    out = []
    for i, day in enumerate(day_starts):
        availability = daily.availability[i]
        seconds = {"down": daily.down_seconds[i], "degraded": daily.degraded_seconds[i],
                   "unknown": daily.unknown_seconds[i], "maintenance": daily.maintenance_seconds[i]}
        out.append({"date": day.date().isoformat(),
                    "uptime": None if availability is None else round(availability / 100, 6),
                    "worst": daily.worst[i] or "nodata",
                    "seconds": {k: round(v, 3) for k, v in seconds.items() if v > 0},
                    "incidents": daily.incidents[i]})
    return out


def uptime_bars(
    session: Session, *, kind: Literal["component", "check"], names: Sequence[str], now: float, days: int = DAYS,
    slo: Slo | None = None,
) -> dict[str, Any]:
    """Uptime bars: per component (or check) and UTC day of the last `days`, availability (time
    not down over time measured, maintenance left out), worst state (`nodata` for a day before
    it existed or wholly in maintenance, `unknown` for one it existed without any judgement),
    degraded/down/unknown/maintenance seconds. Components from `history.overview()`, checks
    from `uptime.daily_by_check()`."""
    when = dt(now)
    day_starts = [dt(when.timestamp() // 86400 * 86400 - (days - 1 - i) * 86400) for i in range(days)]
    series: dict[str, Any] = {}
    totals: dict[str, float | None] = {name: None for name in names}
    if kind == "component":
        found: dict[str, OverviewComponent] = {c.id: c for c in history.overview(session, now=when, days=days,
                                                                               slo=slo).components}
        for name in names:
            if name in found:
                series[name] = _bar_days(day_starts, found[name].daily)
                totals[name] = _fraction(found[name].availability)
    else:
        for cid, (availability, daily) in daily_by_check(session, check_ids=list(names), now=when, days=days).items():
            series[cid] = _bar_days(day_starts, daily)
            totals[cid] = _fraction(availability)
    return {"as_of": iso(now), "days": days, "series": series, "uptime": totals, "source": "history"}


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 6)


# -- charts ------------------------------------------------------------------------------------
def latency_figure(
    engine: Engine, session: Session, *, check_ids: Sequence[str], start: float, end: float, now: float,
    retention: Retention | None = None,
) -> go.Figure:
    """Latency chart of one check, or of a component's checks (those not up first, at most
    COMPONENT_CHART_CHECKS): each from `history.check_history`, which reads raw results or
    rollups as the range needs (fast at months of history)."""
    states = engine.state.checks

    def up_last(cid: str) -> tuple[bool, str]:
        st = states.get(cid)
        return (st is None or st.status.value == "up", cid)

    chosen = sorted(check_ids, key=up_last)[:COMPONENT_CHART_CHECKS]
    series = []
    for cid in chosen:
        found = history.check_history(session, check_id=cid, start=dt(start), end=dt(end), now=dt(now),
                                      max_points=CHART_POINTS, retention=retention)
        if found is not None:
            series.append(latency_series(found))
    left_out = len(check_ids) - len(chosen)
    notes = [f"{left_out} more checks not drawn (those not up come first; a check's page has its own chart)"
             ] if left_out > 0 else []
    return figures.latency_figure(series, start=start, end=end, notes=notes)


def _covering(found: Sequence[Maintenance], component: str | None, check_ids: Sequence[str] | None
              ) -> list[Maintenance]:
    """The occurrences that apply to a component (or any of the checks); all without either."""
    if component is None and not check_ids:
        return list(found)
    return [m for m in found
            if (component is not None and any(fnmatchcase(component, p) for p in m.components))
            or any(fnmatchcase(cid, p) for cid in check_ids or () for p in m.checks)
            or any(fnmatchcase(cid.rsplit("/", 1)[0], p) for cid in check_ids or () for p in m.components)]


def timeline_figure(
    session: Session, *, start: float, end: float, component: str | None = None,
    check_ids: Sequence[str] | None = None, marker: float | None = None,
) -> go.Figure:
    """State timeline from `history.timeline`. Platform-wide (no component): one row per
    component. A component: its own row, then its checks (not-up ones first, at most
    TIMELINE_CHECK_ROWS). Checks alone: one row each. Maintenance occurrences that apply are marked."""
    comp_of = {}
    if component is None and check_ids:
        comp_of = {cid: row.component for cid in check_ids if (row := _catalogue_row(session, cid)) is not None}
    rows: list[tuple[str, list[Interval]]] = []
    occurring: list[Maintenance] = []
    check_rows: dict[str, list[Interval]] = {}
    components = sorted(set(comp_of.values())) if component is None and check_ids else [component]
    for comp in components:
        found = history.timeline(session, start=dt(start), end=dt(end), component=comp,
                                 include_checks=bool(check_ids))
        occurring += [m for m in maintenance_of(found.maintenance) if m not in occurring]
        if not comp_of:
            rows += [(f"{c.id} (component)" if component is not None else c.id, intervals_of(c.intervals))
                     for c in found.components]
        check_rows |= {c.id: intervals_of(c.intervals) for c in found.checks}
    if check_ids:
        spans = {cid: check_rows.get(cid, []) for cid in check_ids}
        ordered = sorted(check_ids, key=lambda c: (not _not_up(spans[c]), c))
        rows += [(cid, spans[cid]) for cid in ordered[:TIMELINE_CHECK_ROWS]]
    left_out = len(check_ids or []) - TIMELINE_CHECK_ROWS
    notes = [f"{left_out} more checks not drawn (those not up come first)"] if left_out > 0 else []
    return figures.timeline_figure(rows, start=start, end=end, marker=marker, notes=notes,
                                   maintenance=_covering(occurring, component, check_ids))


def _not_up(spans: Sequence[Interval]) -> bool:
    return any(s.state in ("down", "degraded") for s in spans)


# -- incidents ---------------------------------------------------------------------------------
def incident_list(
    session: Session, *, start: float, end: float, now: float, component: str | None = None,
    alerts: bool = True,
) -> list[Incident]:
    """Incidents overlapping [start, end) from `history.incidents` (true bounds, checks that went
    degraded or down, maintenance overlap), newest first; with `alerts`, what was notified."""
    found = [incident_of(i) for i in history.incidents(session, start=dt(start), end=dt(end), now=dt(now),
                                                         component=component)]
    if alerts and found:
        alerts_during(session, found, now=now)
    return found


def alerts_during(session: Session, found: Sequence[Incident], *, now: float) -> None:
    """Attach to each incident the alert events of its component and its checks from its start
    to ALERT_SLACK after its end: type, time, receivers and each one's delivery outcome."""
    keys = sorted({f"component:{i.component}" for i in found} | {f"check:{c}" for i in found for c in i.checks})
    lo = min(i.start for i in found)
    hi = max((i.end if i.end is not None else now) for i in found) + ALERT_SLACK
    events = alert_queries.alert_events_between(session, keys=keys, start=dt(lo), end=dt(hi),
                                                limit=ALERT_EVENTS_MAX)
    outcomes = alert_queries.deliveries_of(session, event_ids=[e.event_id for e in events])
    for incident in found:
        mine = {f"component:{incident.component}"} | {f"check:{c}" for c in incident.checks}
        stop = (incident.end if incident.end is not None else now) + ALERT_SLACK
        for e in events:
            at = e.at.timestamp()
            if e.key in mine and incident.start <= at < stop:
                subject_kind, _, subject = e.key.partition(":")
                incident.alerts.append({
                    "time": iso(at), "type": e.type, "subject": subject, "subject_kind": subject_kind,
                    "suppressed_by": e.suppressed_by,
                    "receivers": [{"name": r, "outcome": o.outcome if (o := outcomes.get((e.event_id, r))) else None}
                                  for r in e.receivers],
                })


def incident_out(incident: Incident, *, now: float) -> dict[str, Any]:
    end = incident.end if incident.end is not None else now
    return {"component": incident.component, "start": iso(incident.start), "end": iso(incident.end),
            "duration": round(end - incident.start, 3), "worst": incident.worst, "reason": incident.reason,
            "checks": incident.checks, "maintenance": round(incident.maintenance, 3), "alerts": incident.alerts}


# -- maintenance -------------------------------------------------------------------------------
def maintenance_list(
    session: Session, *, now: float, component: str | None = None, check_id: str | None = None
) -> list[dict[str, Any]]:
    """Maintenance occurrences open now or starting within UPCOMING, soonest first, of those
    covering the component (or the check, or its component); all without either."""
    found = history.maintenance_windows(session, start=dt(now), end=dt(now + UPCOMING))
    out = []
    for w in found:
        for occ in w.occurrences:
            m = Maintenance(occ.name, occ.start.timestamp(), occ.end.timestamp(), tuple(occ.components),
                            tuple(occ.checks))
            if not _covering([m], component, [check_id] if check_id else None):
                continue
            out.append({"id": w.id, "name": w.name, "reason": w.reason, "source": w.source, "start": iso(m.start),
                        "end": iso(m.end), "active": m.start <= now < m.end, "components": list(m.components),
                        "checks": list(m.checks)})
    return sorted(out, key=lambda o: (o["start"], o["id"]))


# -- replay ------------------------------------------------------------------------------------
def snapshot(session: Session, *, at: float) -> dict[str, Any]:
    """The whole platform as it stood at `at` from `history.snapshot`, shaped like `overview()`:
    checks configured then (none before they existed: the page says nothing was monitored),
    each with its state then (`unknown` while configured but not judged yet, as the live
    overview shows it) and its last result while kept; the nearest changes before and after
    (the replay's step buttons) and the maintenance windows open then."""
    snap = history.snapshot(session, at=dt(at))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for c in snap.checks:
        status = c.state
        counts[c.component][status] += 1
        last = c.last_result
        rows.append({"id": c.id, "name": c.name, "component": c.component, "kind": c.kind, "status": status,
                     "since": iso(c.since), "reason": c.reason, "maintenance": c.maintenance,
                     "latency": None if last is None or last.latency is None else round(last.latency, 6),
                     "last_run": iso(last.time) if last is not None else None})
    components = [{"name": c.id, "status": c.state, "since": iso(c.since),
                   "counts": dict(counts[c.id]), "maintenance": c.maintenance} for c in snap.components]
    return {
        "as_of": iso(at), "components": components, "checks": rows,
        "previous_change": iso(snap.previous_change.time) if snap.previous_change else None,
        "next_change": iso(snap.next_change.time) if snap.next_change else None,
        "maintenance": [{"name": m.name, "start": iso(m.start), "end": iso(m.end)} for m in snap.maintenance],
    }


def platform_changes(session: Session, *, start: float, end: float) -> dict[str, Any]:
    """Every check and component state change in [start, end), newest first, at most CHANGES_MAX."""
    checks = queries.state_changes(session, start=dt(start), end=dt(end), limit=CHANGES_MAX + 1)
    comps = changes_between(session, kind="component", start_ms=round(start * 1000) - 1, end_ms=round(end * 1000))
    rows = [{"time": iso(r.ts), "kind": "check", "subject": r.check_id, "old": r.old, "new": r.new,
             "reason": r.reason} for r in checks]
    rows += [{"time": iso(r.ts / 1000), "kind": "component", "subject": r.subject, "old": r.old, "new": r.new,
              "reason": r.reason} for recs in comps.values() for r in recs]
    rows.sort(key=lambda r: (r["time"], r["kind"] == "check"), reverse=True)
    return {"changes": rows[:CHANGES_MAX], "truncated": len(rows) > CHANGES_MAX}
