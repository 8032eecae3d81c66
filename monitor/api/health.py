"""/healthz (the process answers), /readyz (scheduler running, storage reachable), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session

from monitor.api.deps import EngineDep, ServiceDep
from storage import queries

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(service: ServiceDep) -> JSONResponse:
    """Ready: the scheduler runs and the database answers. 503 with the failing parts if not."""
    engine = service.engine
    problems: dict[str, str] = {}
    if not engine.scheduler.running:
        problems["scheduler"] = "not running"
    try:
        with Session(service.db) as session:
            queries.ping(session)
    except Exception as exc:
        problems["storage"] = f"unreachable: {type(exc).__name__}".strip()
    if engine.writer is not None and engine.writer.last_error and "storage" not in problems:
        problems["storage"] = "writes failing"
    body = {"status": "ready" if not problems else "not ready", "problems": problems}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(service: ServiceDep, engine: EngineDep) -> Response:
    return Response(generate_latest(service.metrics_registry), media_type=CONTENT_TYPE_LATEST)
