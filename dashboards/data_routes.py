"""JSON the UI's widgets fetch: /ui/data/* (lists, snapshots) and /ui/figure/* (plotly figures),
and /status/data for the public page. Thin: parameters in, one widgets function, JSON out."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from dashboards import figures, widgets
from dashboards.public import public_status
from monitor.api.deps import EngineDep, ServiceDep, SessionDep
from monitor.api.times import UtcInstant, window
from monitor.config import Config
from monitor.history_config import component_settings

router = APIRouter(tags=["ui"], include_in_schema=False)

DEFAULT_RANGE = timedelta(days=1)  # shown when a request gives no `from`
MAX_RANGE = timedelta(days=400)  # a year and some, the longest range any widget draws
CLOCK_SLACK = 60.0  # seconds
MAX_DAYS = 400  # uptime bars' length, at most

From = Annotated[UtcInstant | None, Query(alias="from", description="ISO 8601; default: `to` minus 24 h")]
To = Annotated[UtcInstant | None, Query(description="ISO 8601; default: now")]


def _range(start: datetime | None, end: datetime | None) -> tuple[float, float, float]:
    """(start, end, now) in unix seconds from the query's optional bounds (monitor.api.times). An
    end within CLOCK_SLACK of now (or past it) is now: the browser's clock is not ours."""
    now = time.time()
    if end is not None and end.timestamp() >= now - CLOCK_SLACK:
        end = None
    begin, stop = window(start, end, now=datetime.fromtimestamp(now, UTC), default=DEFAULT_RANGE,
                         longest=MAX_RANGE)
    return begin.timestamp(), stop.timestamp(), now


def _slo(config: Config) -> widgets.Slo:
    return lambda name: component_settings(config.components, name).slo


def _figure(fig: Any) -> Response:
    return Response(fig.to_json(), media_type="application/json")


@router.get("/ui/data/overview")
def overview(engine: EngineDep, component: str | None = None, check: str | None = None) -> dict[str, Any]:
    return widgets.overview(engine, now=time.time(), component=component, check=check)


@router.get("/ui/data/uptime")
def uptime(
    engine: EngineDep,
    session: SessionDep,
    kind: Literal["component", "check"] = "component",
    name: Annotated[list[str] | None, Query(description="default: every current component")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = widgets.DAYS,
) -> dict[str, Any]:
    if name is None:
        if kind == "check":
            raise HTTPException(422, "name the checks (name=...)")
        name = sorted(engine.state.components)
    return widgets.uptime_bars(session, kind=kind, names=name, now=time.time(), days=days, slo=_slo(engine.config))


@router.get("/ui/figure/latency")
def latency(
    engine: EngineDep,
    session: SessionDep,
    from_: From = None,
    to: To = None,
    check: Annotated[list[str] | None, Query()] = None,
    component: str | None = None,
) -> Response:
    start, end, now = _range(from_, to)
    ids = list(check or [])
    if component is not None:
        comp = engine.state.components.get(component)
        ids += sorted(comp.check_ids) if comp is not None else []
    if not ids:
        raise HTTPException(422, "name a check (check=...) or a current component (component=...)")
    return _figure(widgets.latency_figure(engine, session, check_ids=ids, start=start, end=end, now=now,
                                          retention=engine.config.retention.to_retention()))


@router.get("/ui/figure/timeline")
def timeline(
    engine: EngineDep,
    session: SessionDep,
    from_: From = None,
    to: To = None,
    component: str | None = None,
    check: Annotated[list[str] | None, Query()] = None,
    at: UtcInstant | None = None,
) -> Response:
    start, end, _ = _range(from_, to)
    ids = check
    if component is not None and ids is None:
        comp = engine.state.components.get(component)
        ids = sorted(comp.check_ids) if comp is not None else []
    return _figure(widgets.timeline_figure(session, start=start, end=end, component=component, check_ids=ids,
                                           marker=at.timestamp() if at is not None else None))


@router.get("/ui/data/incidents")
def incidents(session: SessionDep, from_: From = None, to: To = None, component: str | None = None) -> Response:
    start, end, now = _range(from_, to)
    found = widgets.incident_list(session, start=start, end=end, now=now, component=component)
    body = {
        "as_of": widgets.iso(now),
        "incidents": [widgets.incident_out(i, now=now) for i in found],
        "figure": json.loads(figures.incidents_figure(found, start=start, end=end, now=now).to_json()),
        "source": "history",
    }
    return Response(json.dumps(body), media_type="application/json")


@router.get("/ui/data/snapshot")
def snapshot(session: SessionDep, at: UtcInstant) -> dict[str, Any]:
    return widgets.snapshot(session, at=at.timestamp())


@router.get("/ui/data/maintenance")
def maintenance(session: SessionDep, component: str | None = None, check: str | None = None) -> dict[str, Any]:
    """Maintenance occurrences open now or coming (widgets.UPCOMING), of a component or check."""
    now = time.time()
    return {"as_of": widgets.iso(now),
            "windows": widgets.maintenance_list(session, now=now, component=component, check_id=check)}


@router.get("/ui/data/changes")
def changes(session: SessionDep, from_: From = None, to: To = None) -> dict[str, Any]:
    start, end, _ = _range(from_, to)
    return widgets.platform_changes(session, start=start, end=end)


@router.get("/status/data")
def status_data(service: ServiceDep, session: SessionDep) -> dict[str, Any]:
    """The public page's only data source (see dashboards.public)."""
    return public_status(service.engine, session, now=time.time(), title=service.config.ui.title,
                         slo=_slo(service.config))
