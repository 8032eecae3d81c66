"""/api/v1/alerts and /api/v1/silences: alerts firing or suppressed, recent deliveries with their
outcome, receivers (secrets redacted); silences and acknowledgements need the bearer token."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from monitor.alerts.alerting import silence_from_row
from monitor.api.deps import ServiceDep, SessionDep, WriteAccess
from monitor.api.schemas import iso
from monitor.api.times import UtcInstant
from probes.base import Duration
from storage import alert_queries

router = APIRouter(prefix="/api/v1", tags=["alerts"])

DELIVERIES_LIMIT_MAX = 1000
SILENCE_LONGEST = timedelta(days=3660)
"""Ten years: a longer silence is a mistake (and `99999999d` overflowed the date arithmetic)."""


def _alert_out(record: Any, covered: dict[str, list[str]] | None = None) -> dict[str, Any]:
    payload = record.payload or {}
    covers = sorted((covered or {}).get(record.key, []))
    return {
        "key": record.key,
        "status": record.status,
        "summary": payload.get("summary"),
        "alert": payload.get("alert"),
        "state": payload.get("state"),
        "since": iso(record.episode_start),
        "fired_at": iso(record.fired_at),
        "last_notified_at": iso(record.last_notified_at),
        "acknowledged_by": record.acknowledged_by,
        "suppressed_by": record.suppressed_by,
        "covers": {"count": len(covers), "subjects": covers},
        "links": payload.get("links"),
    }


def _delivery_out(row: Any) -> dict[str, Any]:
    return {"event_id": row.event_id, "receiver": row.receiver, "key": row.key, "outcome": row.outcome,
            "attempts": row.attempts, "created_at": row.created_at, "delivered_at": row.delivered_at,
            "next_attempt_at": row.next_attempt_at if row.outcome == "pending" else None,
            "last_error": row.last_error}


def _silence_out(s: Any) -> dict[str, Any]:
    return {"id": s.id, "matchers": s.matchers, "starts_at": iso(s.starts_at), "ends_at": iso(s.ends_at),
            "comment": s.comment, "created_by": s.created_by, "source": s.source,
            "active": s.active(time.time())}


@router.get("/alerts")
def list_alerts(
    service: ServiceDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=DELIVERIES_LIMIT_MAX)] = 100,
) -> dict[str, Any]:
    """Alerts firing, silenced and covered (by a parent's alert), recent deliveries with their
    outcome, what waits in the outbox, the receivers (secrets redacted) and the silences."""
    alerting = service.alerting
    records = sorted(alerting.records.values(), key=lambda r: r.episode_start)
    covered: dict[str, list[str]] = {}  # what each alert covers now (its last message said what it covered then)
    for r in records:
        if r.status == "covered" and r.suppressed_by:
            covered.setdefault(r.suppressed_by.removeprefix("covered by "), []).append(r.key)
    secrets = service.config.secret_values
    return {
        "firing": [_alert_out(r, covered) for r in records if r.status == "firing"],
        "silenced": [_alert_out(r) for r in records if r.status == "silenced"],
        "covered": [_alert_out(r) for r in records if r.status == "covered"],
        "deliveries": [_delivery_out(row) for row in alert_queries.recent_deliveries(session, limit=limit)],
        "outbox": {"depth": alerting.sender.depth, "last_errors": alerting.sender.last_errors},
        "receivers": [r.redacted(secrets) for r in service.config.alerts.receivers],
        "silences": [_silence_out(s) for s in alerting.silences.all()],
    }


@router.get("/alerts/events")
def list_events(
    session: SessionDep,
    key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=DELIVERIES_LIMIT_MAX)] = 100,
) -> list[dict[str, Any]]:
    """Alert events, notified or suppressed (with what suppressed them), newest first."""
    rows = alert_queries.alert_events(session, key=key, limit=limit)
    return [{"event_id": e.event_id, "key": e.key, "type": e.type, "at": e.at, "suppressed_by": e.suppressed_by,
             "receivers": e.receivers, "payload": e.payload} for e in rows]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="", max_length=200)


@router.post("/alerts/{key:path}/ack", dependencies=[WriteAccess])
async def acknowledge(key: str, service: ServiceDep, body: AckIn | None = None) -> dict[str, Any]:
    """Acknowledge an active alert: no more reminders until it resolves."""
    record = service.alerting.acknowledge(key, (body or AckIn()).by)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active alert {key!r}")
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


@router.get("/silences")
def list_silences(service: ServiceDep) -> list[dict[str, Any]]:
    """Silences in force or to come, from the config and from the API."""
    return [_silence_out(s) for s in service.alerting.silences.all()]


@router.post("/silences", status_code=status.HTTP_201_CREATED, dependencies=[WriteAccess])
async def create_silence(body: SilenceIn, service: ServiceDep) -> dict[str, Any]:
    """Silence alerts whose labels match `matchers` (check, component, kind, severity, labels)."""
    now = datetime.now(UTC)
    starts = body.starts_at or now
    ends = body.ends_at or starts + timedelta(seconds=body.duration or 0)
    if ends <= starts or ends <= now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "a silence must end after it starts and after now")
    row = {"id": uuid.uuid4().hex, "matchers": body.matchers, "starts_at": starts, "ends_at": ends,
           "created_by": body.created_by, "comment": body.comment, "created_at": now, "deleted_at": None}
    rows = await asyncio.to_thread(_write_silence, service.db, row)
    service.alerting.silences.set_api(silence_from_row(r) for r in rows)
    service.alerting._wake.set()
    return next(_silence_out(s) for s in service.alerting.silences.api if s.id == row["id"])


@router.delete("/silences/{silence_id}", dependencies=[WriteAccess])
async def delete_silence(silence_id: str, service: ServiceDep) -> dict[str, str]:
    """End a silence now (it stays on record)."""
    found, rows = await asyncio.to_thread(_end_silence, service.db, silence_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no current silence {silence_id!r}")
    service.alerting.silences.set_api(silence_from_row(r) for r in rows)
    service.alerting._wake.set()
    return {"id": silence_id, "status": "ended"}


def _write_silence(db: Any, row: dict[str, Any]) -> list:
    with Session(db) as session, session.begin():
        alert_queries.add_silence(session, row=row)
    return _current(db)


def _end_silence(db: Any, silence_id: str) -> tuple[bool, list]:
    with Session(db) as session, session.begin():
        found = alert_queries.delete_silence(session, silence_id=silence_id, now=time.time())
    return found, _current(db)


def _current(db: Any) -> list:
    with Session(db, expire_on_commit=False) as session:
        rows = alert_queries.current_silences(session, now=time.time())
        session.expunge_all()
        return rows
