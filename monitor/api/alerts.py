"""/api/v1/alerts and /api/v1/silences: alerts firing or suppressed, recent deliveries with their
outcome, receivers (secrets redacted); silences and acknowledgements need the bearer token. Thin:
the operator actions are Alerting's methods; these routes check input and shape answers."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.alerts.alerting import SilenceRefused
from monitor.alerts.silences import Silence
from monitor.api.deps import PrincipalDep, ServiceDep, SessionDep, WriteAccess, actor_name
from monitor.api.times import UtcInstant
from monitor.instants import from_unix
from probes.base import Duration
from storage import alert_queries, audit

router = APIRouter(prefix="/api/v1", tags=["alerts"])

DELIVERIES_LIMIT_MAX = 1000
SILENCE_LONGEST = timedelta(days=3660)
"""Ten years: a longer silence is a mistake (and `99999999d` overflowed the date arithmetic)."""


class Covers(BaseModel):
    count: int = Field(description="alerts this one covers now (their subjects depend on its subject)")
    subjects: list[str] = Field(description="their keys")


class AlertOut(BaseModel):
    """An active alert: what its last message said (`summary`, `alert`, `state`, `links` from the
    payload) and where it stands."""

    key: str = Field(description="`check:<id>` or `component:<name>`")
    status: str = Field(description="firing, silenced, covered or pending")
    summary: str | None
    alert: dict[str, Any] | None = Field(description="the payload's `alert` object (docs/alert-webhook.md)")
    state: dict[str, Any] | None = Field(description="the payload's `state` object")
    since: datetime | None = Field(description="start of this episode")
    fired_at: datetime | None
    last_notified_at: datetime | None
    acknowledged_by: str | None
    suppressed_by: str | None
    covers: Covers
    links: dict[str, Any] | None


class DeliveryOut(BaseModel):
    """One notification to one receiver, and how it went."""

    event_id: str
    receiver: str
    key: str
    outcome: str = Field(description="pending, delivered, failed or expired")
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="while pending")
    last_error: str | None


class OutboxOut(BaseModel):
    depth: dict[str, int] = Field(description="notifications waiting, per receiver")
    last_errors: dict[str, str] = Field(description="the last error per receiver")


class SilenceOut(BaseModel):
    id: str
    matchers: dict[str, str | list[str]]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    source: str = Field(description="config or api")
    active: bool = Field(description="in force now")


class AlertsOut(BaseModel):
    firing: list[AlertOut]
    silenced: list[AlertOut]
    covered: list[AlertOut] = Field(description="held back because a parent's alert covers them")
    deliveries: list[DeliveryOut] = Field(description="recent ones, newest first")
    outbox: OutboxOut
    receivers: list[dict[str, Any]] = Field(description="each receiver's config, secrets redacted")
    silences: list[SilenceOut]


class AlertEventOut(BaseModel):
    """An alert event, notified or suppressed, with the payload it had."""

    event_id: str
    key: str
    type: str
    at: datetime
    suppressed_by: str | None
    receivers: list[str]
    payload: dict[str, Any]


class SilenceEnded(BaseModel):
    id: str
    status: Literal["ended"]


def _alert_out(record: Any, covered: dict[str, list[str]] | None = None) -> AlertOut:
    payload = record.payload or {}
    covers = sorted((covered or {}).get(record.key, []))
    return AlertOut(
        key=record.key, status=record.status, summary=payload.get("summary"), alert=payload.get("alert"),
        state=payload.get("state"), since=from_unix(record.episode_start), fired_at=from_unix(record.fired_at),
        last_notified_at=from_unix(record.last_notified_at), acknowledged_by=record.acknowledged_by,
        suppressed_by=record.suppressed_by, covers=Covers(count=len(covers), subjects=covers),
        links=payload.get("links"))


def _delivery_out(row: Any) -> DeliveryOut:
    return DeliveryOut(event_id=row.event_id, receiver=row.receiver, key=row.key, outcome=row.outcome,
                       attempts=row.attempts, created_at=row.created_at, delivered_at=row.delivered_at,
                       next_attempt_at=row.next_attempt_at if row.outcome == "pending" else None,
                       last_error=row.last_error)


def _silence_out(s: Silence) -> SilenceOut:
    return SilenceOut(id=s.id, matchers=dict(s.matchers), starts_at=from_unix(s.starts_at),
                      ends_at=from_unix(s.ends_at), comment=s.comment, created_by=s.created_by, source=s.source,
                      active=s.active(time.time()))


@router.get("/alerts", response_model=AlertsOut)
def list_alerts(
    service: ServiceDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=DELIVERIES_LIMIT_MAX)] = 100,
) -> AlertsOut:
    """Alerts firing, silenced and covered (by a parent's alert), recent deliveries with their
    outcome, what waits in the outbox, the receivers (secrets redacted) and the silences."""
    alerting = service.alerting
    records = sorted(alerting.all_records().values(), key=lambda r: r.episode_start)
    covered: dict[str, list[str]] = {}  # what each alert covers now (its last message said what it covered then)
    for r in records:
        if r.status == "covered" and r.suppressed_by:
            covered.setdefault(r.suppressed_by.removeprefix("covered by "), []).append(r.key)
    secrets = service.config.secret_values
    return AlertsOut(
        firing=[_alert_out(r, covered) for r in records if r.status == "firing"],
        silenced=[_alert_out(r) for r in records if r.status == "silenced"],
        covered=[_alert_out(r) for r in records if r.status == "covered"],
        deliveries=[_delivery_out(row) for row in alert_queries.recent_deliveries(session, limit=limit)],
        outbox=OutboxOut(depth=alerting.sender.depth, last_errors=alerting.sender.last_errors),
        receivers=[r.redacted(secrets) for r in service.config.alerts.receivers],
        silences=[_silence_out(s) for s in alerting.silences.all()],
    )


@router.get("/alerts/events", response_model=list[AlertEventOut])
def list_events(
    session: SessionDep,
    key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=DELIVERIES_LIMIT_MAX)] = 100,
) -> list[AlertEventOut]:
    """Alert events, notified or suppressed (with what suppressed them), newest first."""
    rows = alert_queries.alert_events(session, key=key, limit=limit)
    return [AlertEventOut(event_id=e.event_id, key=e.key, type=e.type, at=e.at, suppressed_by=e.suppressed_by,
                          receivers=e.receivers, payload=e.payload) for e in rows]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="", max_length=200)


@router.post("/alerts/{key:path}/ack", response_model=AlertOut, dependencies=[WriteAccess])
async def acknowledge(key: str, service: ServiceDep, principal: PrincipalDep, request: Request,
                      body: AckIn | None = None) -> AlertOut:
    """Acknowledge an active alert: no more reminders until it resolves. `by` is the signed-in
    user or token's name (the body's `by` only with the shared server.api_token)."""
    by = actor_name(principal, (body or AckIn()).by)
    record = service.alerting.acknowledge(key, by)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active alert {key!r}")
    request.state.audit_detail = f"{audit.ACK_DETAIL}{by}" if by else "acknowledged"  # incidents show who
    return _alert_out(record)


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: dict[str, str | list[str]] = Field(min_length=1)
    starts_at: UtcInstant | None = None
    ends_at: UtcInstant | None = None
    duration: Duration | None = Field(default=None, gt=0, le=SILENCE_LONGEST.total_seconds(),
                                      description=f"at most {SILENCE_LONGEST.days} days")
    comment: str = Field(default="", max_length=2000)
    created_by: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _window(self) -> SilenceIn:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give either ends_at or duration")
        return self


@router.get("/silences", response_model=list[SilenceOut])
def list_silences(service: ServiceDep) -> list[SilenceOut]:
    """Silences in force or to come, from the config and from the API."""
    return [_silence_out(s) for s in service.alerting.silences.all()]


@router.post("/silences", response_model=SilenceOut, status_code=status.HTTP_201_CREATED,
             dependencies=[WriteAccess])
async def create_silence(body: SilenceIn, service: ServiceDep, principal: PrincipalDep,
                         request: Request) -> SilenceOut:
    """Silence alerts whose labels match `matchers` (check, component, kind, severity, labels).
    `created_by` is the signed-in user or token's name (the body's only with server.api_token)."""
    try:
        silence = await service.alerting.add_silence(
            matchers=body.matchers, starts_at=body.starts_at, ends_at=body.ends_at, duration=body.duration,
            comment=body.comment, created_by=actor_name(principal, body.created_by))
    except SilenceRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    request.state.audit_detail = silence.describe()[:300]
    return _silence_out(silence)


@router.delete("/silences/{silence_id}", response_model=SilenceEnded, dependencies=[WriteAccess])
async def delete_silence(silence_id: str, service: ServiceDep) -> SilenceEnded:
    """End a silence now (it stays on record)."""
    if not await service.alerting.remove_silence(silence_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no current silence {silence_id!r}")
    return SilenceEnded(id=silence_id, status="ended")
