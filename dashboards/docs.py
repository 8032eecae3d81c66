"""/docs (Swagger UI) and /redoc served with their scripts from the installed fastapi-offline
package (never a CDN), under the UI's Content-Security-Policy. Renders pages; decides nothing else."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from dashboards.pages import CSP, SECURITY_HEADERS

ASSETS = Path(fastapi_offline.__file__).parent / "static"
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png (MIT, fastapi-offline)."""
ASSETS_URL = "/docs-assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _with_csp(page: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    """The UI's CSP, plus the hash of the page's own inline start-up script (Swagger UI has one)
    and, for ReDoc, `blob:` workers (its search index runs in one)."""
    html = page.body.decode()
    hashes = [base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in _INLINE_SCRIPT.findall(html)]
    policy = CSP.replace("script-src 'self'", "script-src 'self'" + "".join(f" 'sha256-{h}'" for h in hashes))
    if workers:
        policy += "; worker-src 'self' blob:"
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": policy})


def install_docs(app: FastAPI) -> None:
    """/docs and /redoc on `app` (built with docs_url=None, redoc_url=None), assets from the package."""
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _with_csp(get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png"))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_csp(get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False), workers=True)

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
