"""One function per widget of the internal UI: what it shows, gathered from the engine (current
state) and storage (history). Functions marked FALLBACK compute history from raw state changes
(storage.history_fallback); each names the history-backend call that replaces it. Read-only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import plotly.graph_objects as go
from sqlalchemy.orm import Session

from dashboards import figures
from dashboards.intervals import Incident, Interval, daily_uptime, incidents, intervals, overlaps, utc_days
from dashboards.latency import latency_series
from monitor.engine import Engine
from storage import history_fallback as fb
from storage import queries

DAYS = 90  # the uptime bars' length
CHECK_RESULTS_MAX = 20_000  # raw results read for one check's latency chart (newest first)
COMPONENT_RESULTS_MAX = 5_000  # ... per check on a component's chart
COMPONENT_CHART_CHECKS = 10  # checks drawn on a component's latency chart, at most
TIMELINE_CHECK_ROWS = 60  # check rows on a component's timeline, at most (not-up ones first)
CHANGES_MAX = 1_000  # rows of the platform-wide change list


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


def check_header(engine: Engine, session: Session, check_id: str) -> dict[str, Any] | None:
    """A check page's heading: from the engine when configured, else from the catalogue (a
    retired check keeps its page and history). None when the id was never known."""
    state = engine.state.checks.get(check_id)
    if state is not None:
        c = state.check
        return {"id": c.id, "name": c.name, "component": c.component, "kind": c.kind, "retired": False}
    row = next((r for r in fb.check_catalog(session) if r.id == check_id), None)
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "component": row.component, "kind": row.kind, "retired": True}


def component_known(engine: Engine, session: Session, name: str) -> bool:
    return name in engine.state.components or any(r.component == name for r in fb.check_catalog(session))


# -- history (FALLBACKs from state changes) ----------------------------------------------------
def _spans(
    initial: dict[str, tuple[str, datetime, str]],
    changes: Iterable[tuple[str, datetime, str, str]],
    subjects: Iterable[str],
    *,
    start: float,
    end: float,
    from_since: bool = False,
) -> dict[str, list[Interval]]:
    """Intervals per subject over [start, end) from its state at `start` and its changes
    (subject, time, new state, reason; oldest first). `from_since`: the first interval begins
    when its state was entered, even before `start` (an incident's true start)."""
    per: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for subject, ts, new, reason in changes:
        per[subject].append((ts.timestamp(), new, reason))
    out = {}
    for subject in subjects:
        first = initial.get(subject)
        spans = intervals(per.get(subject, []), initial=(first[0], first[2]) if first else None,
                          start=start, end=end)
        if from_since and first is not None and spans and spans[0].start == start:
            spans[0] = Interval(min(start, first[1].timestamp()), spans[0].end, spans[0].state, spans[0].reason)
        out[subject] = spans
    return out


def component_spans(session: Session, names: Sequence[str] | None, *, start: float, end: float,
                    from_since: bool = False) -> dict[str, list[Interval]]:
    initial = fb.component_states_at(session, at=dt(start), components=list(names) if names else None)
    rows = fb.component_changes(session, components=list(names) if names else None, start=dt(start), end=dt(end))
    changes = [(r.component, r.ts, r.new, r.reason) for r in rows]
    subjects = names if names is not None else sorted({*initial, *(c[0] for c in changes)})
    return _spans(initial, changes, subjects, start=start, end=end, from_since=from_since)


def check_spans(session: Session, check_ids: Sequence[str] | None, *, start: float, end: float
                ) -> dict[str, list[Interval]]:
    ids = list(check_ids) if check_ids is not None else None
    initial = fb.check_states_at(session, at=dt(start), check_ids=ids)
    rows = fb.state_changes_of(session, check_ids=ids, start=dt(start), end=dt(end))
    changes = [(r.check_id, r.ts, r.new, r.reason) for r in rows]
    subjects = ids if ids is not None else sorted({*initial, *(c[0] for c in changes)})
    return _spans(initial, changes, subjects, start=start, end=end)


def uptime_bars(
    session: Session, *, kind: Literal["component", "check"], names: Sequence[str], now: float, days: int = DAYS
) -> dict[str, Any]:
    """Uptime bars: per component (or check) and UTC day of the last `days`, seconds per state
    and uptime. FALLBACK: computed from state changes; the history backend's
    `overview(session, now=, days=90)` (components) and `/api/v1/uptime?by=` replace it."""
    start = utc_days(now, days)[0][1]
    spans = (component_spans if kind == "component" else check_spans)(session, names, start=start, end=now)
    series, totals = {}, {}
    for name in names:
        per_day = daily_uptime(spans.get(name, []), now=now, days=days)
        series[name] = [d.as_dict() for d in per_day]
        known = sum(sum(v for k, v in d.seconds.items() if k not in ("nodata", "unknown")) for d in per_day)
        down = sum(d.seconds.get("down", 0.0) for d in per_day)
        totals[name] = None if known <= 0 else round(1 - down / known, 6)
    return {"as_of": iso(now), "days": days, "series": series, "uptime": totals, "source": "state-changes"}


def latency_figure(
    engine: Engine, session: Session, *, check_ids: Sequence[str], start: float, end: float
) -> go.Figure:
    """Latency chart of one check, or of a component's checks (those not up first, at most
    COMPONENT_CHART_CHECKS). FALLBACK: percentiles over raw results (kept days); the rollups of
    `/api/v1/checks/{id}/history` replace it."""
    single = len(check_ids) == 1
    cap = CHECK_RESULTS_MAX if single else COMPONENT_RESULTS_MAX
    states = engine.state.checks

    def up_last(cid: str) -> tuple[bool, str]:
        st = states.get(cid)
        return (st is None or st.status.value == "up", cid)

    chosen = sorted(check_ids, key=up_last)[:COMPONENT_CHART_CHECKS]
    series = []
    for cid in chosen:
        rows = queries.results(session, check_id=cid, start=dt(start), end=dt(end), limit=cap)
        state = engine.state.checks.get(cid)
        series.append(latency_series(
            cid, ((r.ts.timestamp(), r.latency, r.status) for r in rows), start=start, end=end,
            min_step=state.check.interval if state is not None else 0.0, truncated=len(rows) >= cap,
        ))
    left_out = len(check_ids) - len(chosen)
    notes = [f"{left_out} more checks not drawn (those not up come first; a check's page has its own chart)"
             ] if left_out > 0 else []
    return figures.latency_figure(series, start=start, end=end, notes=notes)


def timeline_figure(
    session: Session, *, start: float, end: float, component: str | None = None,
    check_ids: Sequence[str] | None = None, marker: float | None = None,
) -> go.Figure:
    """State timeline. Platform-wide (no component): one row per component. A component: its own
    row, then its checks (not-up ones first, at most TIMELINE_CHECK_ROWS). Checks alone: one row
    each. FALLBACK: from state changes; `/api/v1/timeline?from=&to=&component=` replaces it."""
    rows: list[tuple[str, list[Interval]]] = []
    if component is not None or check_ids is None:
        comps = component_spans(session, [component] if component is not None else None, start=start, end=end)
        rows += [(f"{name} (component)" if component is not None else name, spans) for name, spans in comps.items()]
    if check_ids:
        spans = check_spans(session, check_ids, start=start, end=end)
        ordered = sorted(check_ids, key=lambda c: (not overlaps(spans[c], start, end, ("down", "degraded")), c))
        rows += [(cid, spans[cid]) for cid in ordered[:TIMELINE_CHECK_ROWS]]
    left_out = len(check_ids or []) - TIMELINE_CHECK_ROWS
    notes = [f"{left_out} more checks not drawn (those not up come first)"] if left_out > 0 else []
    return figures.timeline_figure(rows, start=start, end=end, marker=marker, notes=notes)


def incident_list(
    session: Session, *, start: float, end: float, now: float, component: str | None = None
) -> list[Incident]:
    """Incidents overlapping [start, end), newest first, each with the checks that were not up
    during it. FALLBACK: derived from component changes (an incident is a stretch not up);
    `/api/v1/incidents?from=&to=` replaces it, with what was alerted and when."""
    comps = component_spans(session, [component] if component else None, start=start, end=end, from_since=True)
    found = [i for name, spans in comps.items()
             for i in incidents(name, spans, ongoing_after=now if end >= now else float("inf"))]
    if not found:
        return []
    members: dict[str, list[str]] = defaultdict(list)
    for row in fb.check_catalog(session):
        members[row.component].append(row.id)
    wanted = sorted({cid for i in found for cid in members.get(i.component, [])})
    first = min(i.start for i in found)
    spans = check_spans(session, wanted, start=first, end=end) if wanted else {}
    for incident in found:
        incident.checks = [cid for cid in members.get(incident.component, [])
                           if overlaps(spans.get(cid, []), incident.start, incident.end, ("down", "degraded"))]
    return sorted(found, key=lambda i: i.start, reverse=True)


def incident_out(incident: Incident, *, now: float) -> dict[str, Any]:
    end = incident.end if incident.end is not None else now
    return {"component": incident.component, "start": iso(incident.start), "end": iso(incident.end),
            "duration": round(end - incident.start, 3), "worst": incident.worst, "reason": incident.reason,
            "checks": incident.checks}


def snapshot(session: Session, *, at: float) -> dict[str, Any]:
    """The whole platform as it stood at `at`, shaped like `overview()`: checks that existed then,
    each with its state then (`nodata` when none was recorded yet). FALLBACK: one lookup per
    table from state changes; `/api/v1/snapshot?at=` replaces it."""
    when = dt(at)
    catalog = fb.check_catalog(session, at=when)
    states = fb.check_states_at(session, at=when)
    comp_states = fb.component_states_at(session, at=when)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for c in catalog:
        status, since, reason = states.get(c.id, ("nodata", None, ""))
        counts[c.component][status] += 1
        rows.append({"id": c.id, "name": c.name, "component": c.component, "kind": c.kind, "status": status,
                     "since": iso(since), "reason": reason, "latency": None, "last_run": None})
    components = []
    for name in sorted(counts):
        status, since, _ = comp_states.get(name, ("nodata", None, ""))
        components.append({"name": name, "status": status, "since": iso(since), "counts": dict(counts[name])})
    return {"as_of": iso(at), "components": components, "checks": rows}


def neighbour_change(session: Session, *, at: float, direction: Literal["previous", "next"]) -> str | None:
    """The replay's step buttons: the nearest change before or after `at`. FALLBACK (one indexed
    query per change table); the snapshot endpoint of the history backend may answer it too."""
    found = fb.neighbour_change(session, at=dt(at), direction=direction)
    return iso(found)


def platform_changes(session: Session, *, start: float, end: float) -> dict[str, Any]:
    """Every check and component state change in [start, end), newest first, at most CHANGES_MAX."""
    checks = queries.state_changes(session, start=dt(start), end=dt(end), limit=CHANGES_MAX + 1)
    comps = fb.component_changes(session, start=dt(start), end=dt(end))
    rows = [{"time": iso(r.ts), "kind": "check", "subject": r.check_id, "old": r.old, "new": r.new,
             "reason": r.reason} for r in checks]
    rows += [{"time": iso(r.ts), "kind": "component", "subject": r.component, "old": r.old, "new": r.new,
              "reason": r.reason} for r in comps]
    rows.sort(key=lambda r: (r["time"], r["kind"] == "check"), reverse=True)
    return {"changes": rows[:CHANGES_MAX], "truncated": len(rows) > CHANGES_MAX}
