"""/healthz (the process answers), /readyz (scheduler running, storage reachable), /metrics.
None of them touches the database: /readyz reads the storage watchdog's verdict (storage.health),
so it answers at once even when the database hangs."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.api.deps import EngineDep, ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(service: ServiceDep) -> JSONResponse:
    """Ready: the scheduler runs and the database answers. 503 with the failing parts if not.
    Async and free of I/O: no thread of the pool (which a hung database can fill) is needed."""
    engine = service.engine
    problems: dict[str, str] = {}
    if not engine.scheduler.running:
        problems["scheduler"] = "not running"
    reason = engine.storage_health.reason() if engine.storage_health is not None else None
    if reason is not None:
        problems["storage"] = reason
    elif engine.writer is not None and engine.writer.last_error:
        problems["storage"] = "writes failing"
    if service.coordinator.problem is not None:
        problems["leases"] = service.coordinator.problem
    body = {"status": "ready" if not problems else "not ready", "problems": problems}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(service: ServiceDep, engine: EngineDep) -> Response:
    return Response(generate_latest(service.metrics_registry), media_type=CONTENT_TYPE_LATEST)
