"""The agent's own small HTTP app: /healthz (the process answers), /readyz (503 with the list of
problems), /metrics. Reads what it is handed; runs nothing."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def create_app(*, problems: Callable[[], list[str]], registry: CollectorRegistry) -> FastAPI:
    """The app; `problems` says what keeps the agent from being ready (empty: ready)."""
    app = FastAPI(title="platform-monitor agent", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        found = problems()
        body = {"status": "not ready" if found else "ready", "problems": found}
        return JSONResponse(body, status_code=503 if found else 200)

    @app.get("/metrics")
    def metrics() -> Response:  # a thread: collecting builds every check's series
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
