"""Puts the UI into the app: page and data routers, our static assets, plotly.js from the installed
plotly package (never a CDN), and the public-only gate. Decides nothing about what pages show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from dashboards import figure_routes, pages

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PUBLIC_PATHS = ("/status", "/static/", "/vendor/", "/healthz", "/readyz", "/favicon.ico", "/ping/", "/i18n/",
                "/language/")
"""What an instance with `ui.public_only` serves; everything else answers 404. Jobs' heartbeat
pings stay open: machine endpoints whose token is their credential."""
VENDOR_MAX_AGE = 86400  # seconds browsers may keep plotly.js without asking again


class RevalidatedStatic(StaticFiles):
    """Our assets change with each release and module imports carry no version: browsers ask
    again each time (a 304 when unchanged, by ETag)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


class PublicOnlyGate(BaseHTTPMiddleware):
    """With `ui.public_only` (read per request, so a reload applies at once), only PUBLIC_PATHS
    are served: internal pages, the JSON API, /docs and /metrics all answer 404."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        service = getattr(request.app.state, "service", None)
        if service is not None and service.config.ui.public_only:
            path = request.url.path
            if path == "/":
                return RedirectResponse("/status", status_code=307)
            if not any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in PUBLIC_PATHS):
                return PlainTextResponse("not found", status_code=404)
        return await call_next(request)


def install_ui(app: FastAPI) -> None:
    """Add the status-history UI to `app`: pages, their data, static files, the public gate."""
    app.state.templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    app.state.render_page = pages.render  # the login pages (monitor.auth) are drawn like every other page
    app.include_router(pages.router)
    app.include_router(figure_routes.router)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": f"public, max-age={VENDOR_MAX_AGE}"})

    app.mount("/static", RevalidatedStatic(directory=STATIC), name="static")
    app.add_middleware(PublicOnlyGate)
