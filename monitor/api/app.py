"""`create_app(config)`: builds the service and the FastAPI app; everything starts in lifespan,
nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from sqlalchemy import Engine as DbEngine

from dashboards import install_ui
from monitor import __version__
from monitor.api import alerts, checks, components, health, history
from monitor.api.storage_guard import install_storage_guard
from monitor.config import Config
from monitor.service import Service


def create_app(config: Config, *, config_path: Path | None = None, db: DbEngine | None = None) -> FastAPI:
    """The whole service as an ASGI app: engine and API start and stop with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(config, config_path=config_path, db=db)
        app.state.service = service
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="platform-monitor",
        version=__version__,
        description="Probes of a container platform: current state, results history, metrics.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(history.router)  # before checks: its /checks/{id}/history must win over /checks/{id}
    app.include_router(checks.router)
    app.include_router(components.router)
    app.include_router(alerts.router)
    install_ui(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # the UI polls JSON; plotly.js is 4.8 MB
    # --- storage failures (issue 9): 503 with the reason for a down, hung or locked database ---
    install_storage_guard(app)
    # --- end storage failures ---
    return app
