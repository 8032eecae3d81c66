"""Response models of the JSON API, and the conversions from engine state and storage rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from monitor.instants import from_unix
from monitor.state import CheckState
from probes.base import Result
from storage.records import IncidentOut


class ResultOut(BaseModel):
    time: datetime
    status: str
    latency: float | None
    reason: str
    details: dict[str, Any] | None = None
    location: str | None = Field(default=None, description="where the result was taken (`central` or an agent's "
                                 "name); null for the verdict of a check run in several locations")


class StateOut(BaseModel):
    status: str
    since: datetime | None
    reason: str


class CheckOut(BaseModel):
    id: str
    name: str
    component: str
    kind: str
    interval: float
    labels: dict[str, str]
    state: StateOut
    last_result: ResultOut | None
    locations: list[str] = Field(default_factory=lambda: ["central"],
                                 description="where it runs: `central` (the service) and/or agents' names")
    quorum: int = Field(default=1, description="locations that must see it down for it to be down")


class LocationOut(BaseModel):
    location: str
    last_result: ResultOut | None = Field(description="that location's latest stored result")


class CheckDetailOut(CheckOut):
    settings: dict[str, Any]
    by_location: list[LocationOut] = Field(default_factory=list,
                                           description="each location's latest result (one entry for a check "
                                                       "run in one place)")


class ComponentOut(BaseModel):
    name: str
    title: str = Field(description="display name from the config's `components` (default: the name)")
    group: str | None = Field(description="display group from the config's `components` (default: none)")
    description: str = Field(description="from the config's `components` (default: empty)")
    status: str
    since: datetime | None
    checks: dict[str, int]
    check_ids: list[str]


def result_out(result: Result | Any, *, details: bool = True) -> ResultOut:
    if isinstance(result, Result):
        return ResultOut(
            time=from_unix(result.time),
            status=result.status.value,
            latency=result.latency,
            reason=result.reason,
            details=result.details if details else None,
        )
    return ResultOut(
        time=result.ts,
        status=result.status,
        latency=result.latency,
        reason=result.reason,
        details=result.details if details else None,
    )


def check_out(state: CheckState) -> dict[str, Any]:
    check = state.check
    return {
        "id": check.id,
        "name": check.name,
        "component": check.component,
        "kind": check.kind,
        "interval": check.interval,
        "labels": check.labels,
        "state": StateOut(status=state.status.value, since=from_unix(state.since), reason=state.reason),
        "last_result": result_out(state.last_result, details=False) if state.last_result else None,
        "locations": list(check.sites),
        "quorum": check.needed,
    }


class ReceiverOutcome(BaseModel):
    name: str
    outcome: str | None = Field(description="pending, delivered, failed or expired; null: no delivery row")


class IncidentAlert(BaseModel):
    """An alert event of an incident's component or one of its checks, from the incident's start
    to a few minutes after its end."""

    time: datetime
    type: str = Field(description="firing, reminder, resolved, or acknowledged (by someone: `by`)")
    subject: str = Field(description="the check id or the component name")
    subject_kind: str = Field(description="check or component")
    suppressed_by: str | None
    receivers: list[ReceiverOutcome]
    by: str | None = Field(default=None, description="who acknowledged (type `acknowledged`), from the audit log")


class IncidentWithAlerts(IncidentOut):
    alerts: list[IncidentAlert] = Field(default_factory=list, description="with `alerts=true` only: what was "
                                                                          "notified during it")
