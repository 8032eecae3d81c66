"""`create_app(config)`: builds the service and the FastAPI app; everything starts in lifespan,
nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from sqlalchemy import Engine as DbEngine

from dashboards import install_ui
from dashboards.docs import install_docs
from monitor import __version__
from monitor.api import agents, alerts, audit, checks, components, config_status, health, history, pings, replicas
from monitor.api.guards import RequestGuard, SafeJSONResponse, validation_error
from monitor.api.storage_guard import install_storage_guard
from monitor.auth import login, oidc
from monitor.auth.gate import AuthGate, runtime
from monitor.auth.limits import AuthFailureCollector
from monitor.config import Config
from monitor.service import Service


def create_app(config: Config, *, config_path: Path | None = None, db: DbEngine | None = None,
               settle: Callable[[], None] | None = None,
               adjust: Callable[[Config], Config] | None = None) -> FastAPI:
    """The whole service as an ASGI app: engine and API start and stop with the app. `settle`:
    see monitor.service.Service (the CLI passes its process-level heap freeze)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(config, config_path=config_path, db=db, settle=settle, adjust=adjust)
        app.state.service = service
        service.metrics_registry.register(AuthFailureCollector(runtime(app).limiter))
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
        docs_url=None,  # dashboards.docs serves them from the package, under the UI's CSP
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.include_router(health.router)
    app.include_router(history.router)  # any order: monitor.api.ids keeps /checks/{id} off its sub-resources
    app.include_router(checks.router)
    app.include_router(components.router)
    app.include_router(alerts.router)
    app.include_router(pings.router)
    app.include_router(replicas.router)
    app.include_router(config_status.router)
    app.include_router(agents.router)
    app.include_router(audit.router)
    app.include_router(login.router)
    app.include_router(oidc.router)
    install_ui(app)
    install_docs(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # the UI polls JSON; plotly.js is 4.8 MB
    # --- storage failures (issue 9): 503 with the reason for a down, hung or locked database ---
    install_storage_guard(app)
    _install_guards(app)
    app.add_middleware(AuthGate)  # added last: outermost (issue 15: who may see and do what, before any body is read)
    return app


# -- request guards and input errors (issue 9: bad input, size, auth order) ---------------------
def _install_guards(app: FastAPI) -> None:
    """Outermost: RequestGuard decides before anything reads a body; 422s never echo the input."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(RequestGuard)
