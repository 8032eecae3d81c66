"""What the UI's server-drawn charts show, read through the same typed reads as /api/v1 (its route
functions, and storage.history's public queries) and handed to dashboards.figures: a check's or a
component's latency, state timelines, the incident timeline. Read-only; times in are aware
datetimes, figures.py works in unix seconds for plotly's axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from fnmatch import fnmatchcase

import plotly.graph_objects as go
from fastapi import HTTPException
from sqlalchemy.orm import Session

from dashboards import figures
from dashboards.i18n import Words
from dashboards.latency_series import latency_series
from dashboards.timeline_series import Interval, Maintenance, incident_of, intervals_of, maintenance_of
from monitor.api.deps import EngineDep
from monitor.api.history import get_check_history, get_timeline
from storage import history
from storage.records import IncidentOut

__all__ = ["CHART_POINTS", "COMPONENT_CHART_CHECKS", "TIMELINE_CHECK_ROWS", "incidents_figure", "latency_figure",
           "timeline_figure"]

CHART_POINTS = 300  # points per check on a latency chart: finer is noise at chart width
COMPONENT_CHART_CHECKS = 10  # checks drawn on a component's latency chart, at most
TIMELINE_CHECK_ROWS = 60  # check rows on a component's timeline, at most (not-up ones first)


def latency_figure(
    session: Session, engine: EngineDep, *, check_ids: Sequence[str], statuses: Mapping[str, str], start: datetime,
    end: datetime, tz: tzinfo = UTC, said: Words = figures.ENGLISH,
) -> go.Figure:
    """Latency chart of one check, or of a component's checks (those not up now first, at most
    COMPONENT_CHART_CHECKS): each the series /api/v1/checks/{id}/history serves, which reads raw
    results or rollups as the range needs (fast at months of history)."""
    chosen = sorted(check_ids, key=lambda cid: (statuses.get(cid, "up") == "up", cid))[:COMPONENT_CHART_CHECKS]
    series = []
    for cid in chosen:
        try:
            found = get_check_history(cid, session, engine, from_=start, to=end, points=CHART_POINTS)
        except HTTPException:  # never configured: nothing to draw
            continue
        series.append(latency_series(found))
    left_out = len(check_ids) - len(chosen)
    notes = [said._("%(n)d more checks not drawn (those not up come first; a check's page has its own chart)",
                     n=left_out)] if left_out > 0 else []
    return figures.latency_figure(series, start=start.timestamp(), end=end.timestamp(), notes=notes, tz=tz, said=said)


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
    session: Session, *, start: datetime, end: datetime, component: str | None = None,
    check_ids: Sequence[str] | None = None, marker: datetime | None = None, tz: tzinfo = UTC,
    said: Words = figures.ENGLISH,
) -> go.Figure:
    """State timeline from /api/v1/timeline's read. Platform-wide (no component): one row per
    component. A component: its own row, then its checks (not-up ones first, at most
    TIMELINE_CHECK_ROWS). Checks alone: one row each. Maintenance occurrences that apply are marked."""
    comp_of = {}
    if component is None and check_ids:
        comp_of = {cid: info.component for cid in check_ids
                   if (info := history.check_info(session, check_id=cid)) is not None}
    rows: list[tuple[str, list[Interval]]] = []
    occurring: list[Maintenance] = []
    check_rows: dict[str, list[Interval]] = {}
    components = sorted(set(comp_of.values())) if component is None and check_ids else [component]
    for comp in components:
        found = get_timeline(session, from_=start, to=end, component=comp, checks=bool(check_ids))
        occurring += [m for m in maintenance_of(found.maintenance) if m not in occurring]
        if not comp_of:
            rows += [(said._("%(name)s (component)", name=c.id) if component is not None else c.id,
                      intervals_of(c.intervals))
                     for c in found.components]
        check_rows |= {c.id: intervals_of(c.intervals) for c in found.checks}
    if check_ids:
        spans = {cid: check_rows.get(cid, []) for cid in check_ids}
        ordered = sorted(check_ids, key=lambda c: (not _not_up(spans[c]), c))
        rows += [(cid, spans[cid]) for cid in ordered[:TIMELINE_CHECK_ROWS]]
    left_out = len(check_ids or []) - TIMELINE_CHECK_ROWS
    notes = [said._("%(n)d more checks not drawn (those not up come first)", n=left_out)] if left_out > 0 else []
    return figures.timeline_figure(rows, start=start.timestamp(), end=end.timestamp(),
                                   marker=marker.timestamp() if marker is not None else None, notes=notes,
                                   maintenance=_covering(occurring, component, check_ids), tz=tz, said=said)


def _not_up(spans: Sequence[Interval]) -> bool:
    return any(s.state in ("down", "degraded") for s in spans)


def incidents_figure(found: Sequence[IncidentOut], *, start: datetime, end: datetime, now: datetime,
                     tz: tzinfo = UTC, said: Words = figures.ENGLISH) -> go.Figure:
    """The incident timeline of /api/v1/incidents' answer: a row per component, a bar per incident."""
    return figures.incidents_figure([incident_of(i) for i in found], start=start.timestamp(),
                                    end=end.timestamp(), now=now.timestamp(), tz=tz, said=said)
