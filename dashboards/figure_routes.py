"""The UI's server-drawn figures (/ui/figure/*: plotly JSON for the locally served plotly.js) and
the public page's data (/status/data). Thin: parameters in, one dashboards.charts or
dashboards.public call, JSON out. Everything else the pages show they read from /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import plotly.graph_objects as go
from fastapi import APIRouter, HTTPException, Query, Request, Response

from dashboards import charts
from dashboards.public import public_status
from dashboards.reader import reader_words
from monitor.api.checks import list_checks
from monitor.api.components import list_components
from monitor.api.deps import EngineDep, ServiceDep, SessionDep
from monitor.api.history import MAX_WINDOW, From, To, get_incidents
from monitor.api.times import UtcInstant, window

router = APIRouter(tags=["ui"], include_in_schema=False)

DEFAULT_RANGE = timedelta(days=1)  # drawn when a request gives no `from`
CLOCK_SLACK = timedelta(seconds=60)
"""A `to` this close to now (or past it) is now: the browser's clock is not ours."""
UNPROCESSABLE = 422


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime, datetime]:
    """(start, end, now) of a figure: the API's range rule (monitor.api.times.window)."""
    now = datetime.now(UTC)
    if end is not None and end >= now - CLOCK_SLACK:
        end = None
    begin, stop = window(start, end, now=now, default=DEFAULT_RANGE, longest=MAX_WINDOW)
    return begin, stop, now


def _figure(fig: go.Figure) -> Response:
    return Response(fig.to_json(), media_type="application/json", headers={"Vary": "Accept-Language, Cookie"})


Zone = Annotated[str | None, Query(max_length=100, description="IANA zone of the axes (the page's); UTC by default")]


def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise HTTPException(UNPROCESSABLE, f"tz: unknown time zone {name!r}") from None


@router.get("/ui/figure/latency")
def latency(
    request: Request,
    engine: EngineDep,
    session: SessionDep,
    from_: From = None,
    to: To = None,
    check: Annotated[list[str] | None, Query()] = None,
    component: str | None = None,
    tz: Zone = None,
) -> Response:
    zone = _zone(tz)
    start, end, _ = _range(from_, to)
    ids = list(check or [])
    if component is not None:
        ids += next((sorted(c.check_ids) for c in list_components(engine) if c.name == component), [])
    if not ids:
        raise HTTPException(UNPROCESSABLE, "name a check (check=...) or a current component (component=...)")
    statuses = {c["id"]: c["state"].status for c in list_checks(engine)}
    return _figure(charts.latency_figure(session, engine, check_ids=ids, statuses=statuses, start=start, end=end,
                                         tz=zone, said=reader_words(request)))


@router.get("/ui/figure/timeline")
def timeline(
    request: Request,
    engine: EngineDep,
    session: SessionDep,
    from_: From = None,
    to: To = None,
    component: str | None = None,
    check: Annotated[list[str] | None, Query()] = None,
    at: UtcInstant | None = None,
    tz: Zone = None,
) -> Response:
    zone = _zone(tz)
    start, end, _ = _range(from_, to)
    ids = check
    if component is not None and ids is None:
        ids = next((sorted(c.check_ids) for c in list_components(engine) if c.name == component), [])
    return _figure(charts.timeline_figure(session, start=start, end=end, component=component, check_ids=ids,
                                          marker=at, tz=zone, said=reader_words(request)))


@router.get("/ui/figure/incidents")
def incidents(request: Request, session: SessionDep, from_: From = None, to: To = None, component: str | None = None,
              tz: Zone = None) -> Response:
    zone = _zone(tz)
    start, end, now = _range(from_, to)
    found = get_incidents(session, from_=start, to=end, component=component)
    return _figure(charts.incidents_figure(found, start=start, end=end, now=now, tz=zone, said=reader_words(request)))


@router.get("/status/data")
def status_data(service: ServiceDep, engine: EngineDep, session: SessionDep) -> dict[str, Any]:
    """The public page's only data source (see dashboards.public)."""
    return public_status(engine, session, title=service.config.ui.title)
