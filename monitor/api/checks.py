"""/api/v1/checks: every check with its current state, one check's settings, its stored results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import Session

from monitor.api import ids  # noqa: F401  (registers the {check_id:check_id} path convertor)
from monitor.api.deps import EngineDep, SessionDep
from monitor.api.schemas import CheckDetailOut, CheckOut, LocationOut, ResultOut, check_out, result_out
from monitor.api.times import UtcInstant
from monitor.redact import redact_settings
from monitor.remote.quorum import series_id
from storage import queries

router = APIRouter(prefix="/api/v1/checks", tags=["checks"])

RESULTS_LIMIT_MAX = 10_000


def _state(engine: EngineDep, check_id: str):
    state = engine.state.checks.get(check_id)
    if state is None:
        raise HTTPException(status_code=404, detail=f"no check with id {check_id!r}")
    return state


@router.get("", response_model=list[CheckOut])
def list_checks(engine: EngineDep, component: str | None = None, status: str | None = None) -> list[dict]:
    """Every configured check with its confirmed state, since when, and its last result."""
    out = []
    for state in list(engine.state.checks.values()):
        if component is not None and state.check.component != component:
            continue
        if status is not None and state.status.value != status:
            continue
        out.append(check_out(state))
    return out


@router.get("/{check_id:check_id}/results", response_model=list[ResultOut])
def check_results(
    check_id: str,
    engine: EngineDep,
    session: SessionDep,
    from_: Annotated[UtcInstant | None, Query(alias="from", description="ISO 8601; inclusive (no offset: UTC)")]
    = None,
    to: Annotated[UtcInstant | None, Query(description="ISO 8601; exclusive (no offset: UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=RESULTS_LIMIT_MAX)] = 500,
    location: Annotated[str | None, Query(description="one location's results of a check run in several "
                                                      "(default: the check's own verdicts)")] = None,
) -> list[ResultOut]:
    """Stored results of one check in [from, to), newest first."""
    check = _state(engine, check_id).check
    sites = check.sites
    if location is not None and location not in sites:
        raise HTTPException(status_code=404, detail=f"check {check_id!r} does not run at {location!r} "
                                                    f"(it runs at {', '.join(sites)})")
    series = series_id(check_id, location) if location is not None and len(sites) > 1 else check_id
    shown = location if location is not None else (sites[0] if len(sites) == 1 else None)
    rows = queries.results(session, check_id=series, start=from_, end=to, limit=limit)
    return [result_out(row).model_copy(update={"location": shown}) for row in rows]


@router.get("/{check_id:check_id}", response_model=CheckDetailOut)
def get_check(check_id: str, engine: EngineDep) -> dict:
    """One check: its settings (secrets redacted), state and last result with details, and each
    location's latest result."""
    state = _state(engine, check_id)
    out = check_out(state)
    sites = state.check.sites
    if state.last_result is not None:
        out["last_result"] = result_out(state.last_result)
        if len(sites) == 1:
            out["last_result"] = out["last_result"].model_copy(update={"location": sites[0]})
    out["settings"] = redact_settings(state.check, engine.config.secret_values)
    if len(sites) == 1:
        out["by_location"] = [LocationOut(location=sites[0], last_result=out["last_result"])]
    else:
        with Session(engine.db) as session:
            latest = queries.latest_results(session, check_ids=[series_id(check_id, s) for s in sites])
        out["by_location"] = [
            LocationOut(location=s, last_result=result_out(latest[series_id(check_id, s)]).model_copy(
                update={"location": s}) if series_id(check_id, s) in latest else None)
            for s in sites]
    return out
