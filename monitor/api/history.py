"""/api/v1 history endpoints: snapshot at an instant, state changes, timelines, a check's series
and daily uptime, uptime, incidents (with what was alerted), the overview page's data,
maintenance windows. Thin: each route checks its input and
calls one storage.history query; writes need the bearer token."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from monitor.api import ids  # noqa: F401  (registers the {check_id:check_id} path convertor)
from monitor.api.deps import EngineDep, SessionDep, WriteAccess
from monitor.api.schemas import IncidentAlert, IncidentWithAlerts, ReceiverOutcome
from monitor.api.times import UtcInstant, window
from monitor.config import Config
from monitor.record_config import MaintenanceIn, component_settings
from storage import alert_queries, audit, history, maintenance
from storage.records import (
    ChangeList,
    CheckDaily,
    CheckHistory,
    MaintenanceWindowOut,
    Overview,
    Snapshot,
    Timeline,
    Uptime,
)

router = APIRouter(prefix="/api/v1", tags=["history"])

DEFAULT_WINDOW = timedelta(hours=24)  # timelines and series when `from` is not given
DEFAULT_QOS_WINDOW = timedelta(days=30)  # uptime and incidents when `from` is not given
MAX_WINDOW = timedelta(days=3660)  # ten years: beyond that a request is a mistake
OVERVIEW_DAYS_MAX = 400
ALERT_SLACK = timedelta(minutes=5)  # after an incident's end, in which its resolved notifications still count
ALERT_EVENTS_MAX = 2_000  # alert events read for one incident list

Instant = Annotated[UtcInstant | None, Query(description="ISO 8601, e.g. 2026-11-27T12:00:00Z (no offset: UTC)")]
From = Annotated[UtcInstant | None, Query(alias="from", description="ISO 8601, inclusive (no offset: UTC)")]
To = Annotated[UtcInstant | None, Query(description="ISO 8601, exclusive (no offset: UTC); default now")]
ComponentQ = Annotated[str | None, Query(description="only this component (and its checks)")]


def _now() -> datetime:
    return datetime.fromtimestamp(round(time.time(), 3), UTC)


def _range(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    return window(start, end, now=_now(), default=default, longest=MAX_WINDOW)


def _slo(config: Config):
    return lambda name: component_settings(config.components, name).slo


@router.get("/snapshot", response_model=Snapshot)
def get_snapshot(session: SessionDep, at: Instant = None, component: ComponentQ = None) -> Snapshot:
    """The state of every check and component at instant `at` (default now): state, since when,
    the change that put it there, the last raw result at or before `at` (while raw results are
    kept), maintenance; and the previous/next check state change from `at`, for stepping through
    history. Checks configured at `at` are included, retired ones too if not yet retired then."""
    return history.snapshot(session, at=at if at is not None else _now(), component=component)


@router.get("/changes", response_model=ChangeList)
def get_changes(
    session: SessionDep,
    from_: From = None,
    to: To = None,
    limit: Annotated[int, Query(ge=1, le=history.CHANGES_MAX, description="at most this many, newest first")]
    = history.CHANGES_MAX,
) -> ChangeList:
    """Every check and component state change in [from, to) (default: the last 24 hours), newest
    first, with its reason; `truncated` when there were more than `limit` (the replay's list)."""
    start, end = _range(from_, to, DEFAULT_WINDOW)
    return history.changes(session, start=start, end=end, limit=limit)


@router.get("/timeline", response_model=Timeline)
def get_timeline(
    session: SessionDep,
    from_: From = None,
    to: To = None,
    component: ComponentQ = None,
    checks: Annotated[bool, Query(description="include each check's intervals, not only components'")] = True,
) -> Timeline:
    """State intervals [start, end) of every component (or one) and its checks over [from, to)
    (default: the last 24 hours), plus the maintenance occurrences in it: what a timeline
    drawing needs. At most 50,000 intervals; past that checks are left out (`truncated`)."""
    start, end = _range(from_, to, DEFAULT_WINDOW)
    return history.timeline(session, start=start, end=end, component=component, include_checks=checks)


@router.get("/checks/{check_id:check_id}/history", response_model=CheckHistory)
def get_check_history(
    check_id: str,
    session: SessionDep,
    engine: EngineDep,
    from_: From = None,
    to: To = None,
    points: Annotated[int, Query(ge=10, le=history.MAX_POINTS, description="at most this many points")] = 500,
) -> CheckHistory:
    """One check's latency (mean, p50, p95, max) and status counts over [from, to) (default: the
    last 24 hours) in at most `points` points, at the finest resolution still kept that fits:
    raw results for hours, 5-minute rollups for days, hourly for weeks, daily for months and
    more. `resolution` and `step_seconds` say which. Also its state intervals. Retired checks
    keep their history."""
    start, end = _range(from_, to, DEFAULT_WINDOW)
    out = history.check_history(session, check_id=check_id, start=start, end=end, now=_now(), max_points=points,
                                retention=engine.config.retention.to_retention())
    if out is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no check with id {check_id!r} was ever configured")
    return out


@router.get("/checks/{check_id:check_id}/daily", response_model=CheckDaily)
def get_check_daily(
    check_id: str,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=OVERVIEW_DAYS_MAX, description="UTC days, today included")] = 90,
) -> CheckDaily:
    """One check's availability over `days` and per UTC day: availability, degraded/down/unknown/
    maintenance time, worst state, incidents (the overview's daily series, for a check). Retired
    checks keep theirs."""
    out = history.check_daily(session, check_id=check_id, now=_now(), days=days)
    if out is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no check with id {check_id!r} was ever configured")
    return out


@router.get("/uptime", response_model=Uptime)
def get_uptime(
    session: SessionDep,
    engine: EngineDep,
    from_: From = None,
    to: To = None,
    by: Annotated[Literal["check", "component"], Query(description="one entry per component or per check")]
    = "component",
    component: ComponentQ = None,
) -> Uptime:
    """Availability (degraded counts as available; unknown time and maintenance left out),
    degraded and down time, incidents, MTTR, latency p50/p95 and error budget left against each
    component's SLO (config `components.<name>.slo`, default 99.9) over [from, to) (default: the
    last 30 days; time after now is not counted)."""
    start, end = _range(from_, to, DEFAULT_QOS_WINDOW)
    config = engine.config
    return history.uptime(session, start=start, end=end, now=_now(), by=by, component=component,
                          slo=_slo(config), retention=config.retention.to_retention())


@router.get("/incidents", response_model=list[IncidentWithAlerts])
def get_incidents(
    session: SessionDep,
    from_: From = None,
    to: To = None,
    component: ComponentQ = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="at most this many, newest first")] = 1000,
    alerts: Annotated[bool, Query(description="attach the alert events of each incident (`alerts`)")] = False,
) -> list[IncidentWithAlerts]:
    """Intervals during which a component was not up that overlap [from, to) (default: the last
    30 days), newest first, each whole (it may begin before `from`; `end` null while ongoing):
    worst state, the checks that went degraded or down and their reasons, maintenance overlap;
    with `alerts=true`, what was notified from its start to 5 minutes after its end."""
    start, end = _range(from_, to, DEFAULT_QOS_WINDOW)
    now = _now()
    found = [IncidentWithAlerts.model_construct(**dict(i), alerts=[])
             for i in history.incidents(session, start=start, end=end, now=now, component=component, limit=limit)]
    if alerts and found:
        _attach_alerts(session, found, now=now)
    return found


def _attach_alerts(session: Session, found: list[IncidentWithAlerts], *, now: datetime) -> None:
    """Each incident's alert events (its component's and its checks') from its start to
    ALERT_SLACK after its end, but never past the start of its component's next incident (whose
    own alerts those are), with each receiver's delivery outcome."""
    keys = sorted({f"component:{i.component}" for i in found} | {f"check:{c}" for i in found for c in i.checks})
    lo = min(i.start for i in found)
    hi = max(i.end or now for i in found) + ALERT_SLACK
    events = alert_queries.alert_events_between(session, keys=keys, start=lo, end=hi, limit=ALERT_EVENTS_MAX)
    acks = audit.acknowledgements(session, keys=keys, start=lo, end=hi)
    outcomes = alert_queries.deliveries_of(session, event_ids=[e.event_id for e in events])
    next_start: dict[int, datetime] = {}  # an incident's slack ends where its component's next incident starts
    for component in {i.component for i in found}:
        mine = sorted((i for i in found if i.component == component), key=lambda i: i.start)
        for before, after in itertools.pairwise(mine):
            next_start[id(before)] = after.start
    for incident in found:
        mine = {f"component:{incident.component}"} | {f"check:{c}" for c in incident.checks}
        stop = (incident.end or now) + ALERT_SLACK
        if id(incident) in next_start:
            stop = min(stop, next_start[id(incident)])
        for e in events:
            if e.key in mine and incident.start <= e.at < stop:
                subject_kind, _, subject = e.key.partition(":")
                incident.alerts.append(IncidentAlert(
                    time=e.at, type=e.type, subject=subject, subject_kind=subject_kind, suppressed_by=e.suppressed_by,
                    receivers=[ReceiverOutcome(name=r, outcome=o.outcome if (o := outcomes.get((e.event_id, r)))
                                               else None) for r in e.receivers]))
        for ack in acks:
            if ack.key in mine and incident.start <= ack.at < stop:
                subject_kind, _, subject = ack.key.partition(":")
                incident.alerts.append(IncidentAlert(time=ack.at, type="acknowledged", subject=subject,
                                                     subject_kind=subject_kind, suppressed_by=None, receivers=[],
                                                     by=ack.by))
        incident.alerts.sort(key=lambda a: a.time)


@router.get("/overview", response_model=Overview)
def get_overview(
    session: SessionDep,
    engine: EngineDep,
    days: Annotated[int, Query(ge=1, le=OVERVIEW_DAYS_MAX, description="UTC days, today included")] = 90,
) -> Overview:
    """The status overview in one call: every current component's state now, its checks counted
    by state, its availability and error budget over `days`, and per day: availability,
    degraded/down/maintenance time, worst state and incidents. Display settings (title, group,
    description) come from the config's `components`."""
    config = engine.config
    out = history.overview(session, now=_now(), days=days, slo=_slo(config))
    for comp in out.components:
        settings = component_settings(config.components, comp.id)
        comp.title, comp.group, comp.description = settings.title, settings.group, settings.description
    return out


@router.get("/maintenance", response_model=list[MaintenanceWindowOut])
def list_maintenance(
    session: SessionDep,
    from_: From = None,
    to: Annotated[UtcInstant | None, Query(description="ISO 8601; default: 30 days after `from`")] = None,
    retired: Annotated[bool, Query(description="include config windows removed from the config")] = False,
    component: Annotated[str | None, Query(description="only windows covering this component")] = None,
    check: Annotated[str | None, Query(description="only windows covering this check (by its id, or by its "
                                                   "component: the id's part before its last `/`)")] = None,
) -> list[MaintenanceWindowOut]:
    """Every maintenance window (from the config file and from this API), with its occurrences
    in [from, to) (default: from now for 30 days); with `component` or `check`, only the windows
    whose patterns cover it (either, when both are given)."""
    start = from_ if from_ is not None else _now()
    start, end = _range(start, to if to is not None else start + timedelta(days=30), timedelta(days=30))
    found = history.maintenance_windows(session, start=start, end=end, include_retired=retired)
    if component is None and check is None:
        return found
    return [w for w in found if _covers(w, component, check)]


def _covers(window: MaintenanceWindowOut, component: str | None, check: str | None) -> bool:
    comps = [component] if component is not None else []
    if check is not None:
        comps.append(check.rsplit("/", 1)[0])
        if any(fnmatchcase(check, p) for p in window.checks):
            return True
    return any(fnmatchcase(c, p) for c in comps for p in window.components)


def _window_out(session: Session, window_id: int) -> MaintenanceWindowOut:
    start = _now()
    return next(w for w in history.maintenance_windows(session, start=start, end=start + timedelta(days=30),
                                                       include_retired=True) if w.id == window_id)


@router.post("/maintenance", response_model=MaintenanceWindowOut, status_code=status.HTTP_201_CREATED,
             dependencies=[WriteAccess])
def create_maintenance(body: MaintenanceIn, session: SessionDep) -> MaintenanceWindowOut:
    """Add a maintenance window (bearer token required): one-off (`start` and `end` or
    `duration`) or recurring (`every`: day|week|month, `days`, `at` "HH:MM", `duration`,
    `timezone`). `components` and `checks` take fnmatch patterns. A `name` in use by a current
    window (config or API) is refused (409): names are keys. It counts in uptime figures at
    once, for past occurrences too."""
    with session.begin():
        if body.name and (same := maintenance.current_window_named(session, name=body.name)) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"a maintenance window named {body.name!r} exists already (id {same.id}, "
                                f"from the {'config file' if same.source == 'config' else 'API'}): names are keys")
        row = maintenance.add_window(session, fields=body.to_fields(), now=time.time())
        window_id = row.id
    return _window_out(session, window_id)


@router.delete("/maintenance/{window_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAccess])
def delete_maintenance(window_id: int, session: SessionDep) -> Response:
    """Delete a window (bearer token required); its past occurrences count again in uptime.
    Windows from the config file are refused (409): remove them from the file."""
    try:
        with session.begin():
            found = maintenance.delete_window(session, window_id=window_id)
    except maintenance.WindowInConfig as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
