"""HTML pages: overview, component, check, replay, incidents, processes, alerts and the public status page.
Thin: a page is a template with a few data attributes; its scripts read /api/v1 (and /ui/figure/*
for the server-drawn charts, /status/data for the public page)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from dashboards.i18n import COOKIE, COOKIE_MAX_AGE, LANGUAGES, catalog_json
from dashboards.reader import reader_words, timezone
from monitor import __version__
from monitor.api import ids  # noqa: F401  (registers the {check_id:check_id} path convertor)
from monitor.api.checks import get_check
from monitor.api.components import list_components
from monitor.api.deps import EngineDep, ServiceDep, SessionDep
from storage import history

router = APIRouter(tags=["ui"], include_in_schema=False)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline or foreign script can run, whatever a target managed to put in a page (plotly.js
injects its own <style> elements, hence 'unsafe-inline' for styles only)."""


SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """`template` in the reader's language (`_`, `n_`), with the zone the scripts show times in; every
    page knows who is looking (`principal`: the nav shows the user, the sign-out form and the
    session's CSRF token for the page's writes) and whether logins are on."""
    env = request.app.state.templates
    said = reader_words(request)
    service = getattr(request.app.state, "service", None)
    context.setdefault("auth_enabled", service is not None and service.config.auth is not None)
    principal = getattr(request.state, "principal", None)
    html = env.get_template(template).render(
        version=__version__, lang=said.lang, languages=LANGUAGES, timezone=timezone(request) or "",
        _=said._, n_=said.n_, here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        principal=principal, **context)
    headers = {**SECURITY_HEADERS, "Content-Language": said.lang, "Vary": "Accept-Language, Cookie"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _not_found(request: Request, what: str, name: str) -> HTMLResponse:
    return render(request, "not_found.html", status_code=404, page="not_found", what=what, name=name)


@router.get("/language/{lang}")
def choose_language(lang: str, next: str = "/") -> RedirectResponse:
    """The pages' language switch: remembers the choice in a cookie and goes back to `next` (a
    path of this site only)."""
    if lang not in LANGUAGES:
        raise HTTPException(404, f"no language {lang[:20]!r}: {', '.join(LANGUAGES)}")
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax")
    return response


@router.get("/i18n/{lang}.json")
def catalog(lang: str) -> JSONResponse:
    """The compiled catalog the templates use, for the page scripts (dashboards/static/js/lib/i18n.js)."""
    if lang not in LANGUAGES:
        raise HTTPException(404, f"no language {lang[:20]!r}")
    return JSONResponse(catalog_json(lang), headers={"Cache-Control": "no-cache"})


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    return render(request, "overview.html", page="overview")


@router.get("/components/{name:path}", response_class=HTMLResponse)
def component_page(request: Request, name: str, engine: EngineDep, session: SessionDep) -> HTMLResponse:
    """Headed by the component's title and description (/api/v1/components); one no longer
    configured keeps its page under its name."""
    current = next((c for c in list_components(engine) if c.name == name), None)
    if current is None and not history.component_known(session, name=name):
        return _not_found(request, "component", name)
    return render(request, "component.html", page="component", component=name,
                  title=current.title if current else name, description=current.description if current else "")


@router.get("/checks/{check_id:check_id}", response_class=HTMLResponse)
def check_page(request: Request, check_id: str, engine: EngineDep, session: SessionDep) -> HTMLResponse:
    header = _check_header(engine, session, check_id)
    if header is None:
        return _not_found(request, "check", check_id)
    titles = {c.name: c.title for c in list_components(engine)}
    return render(request, "check.html", page="check", check=header,
                  component_title=titles.get(header["component"], header["component"]))


def _check_header(engine: EngineDep, session: SessionDep, check_id: str) -> dict[str, Any] | None:
    """A check page's heading: the configured check's (/api/v1/checks/{id}), else the catalogue's
    (a retired check keeps its page and history); None when the id was never known."""
    try:
        c = get_check(check_id, engine)
        return {"id": c["id"], "name": c["name"], "component": c["component"], "kind": c["kind"], "retired": False}
    except HTTPException:
        info = history.check_info(session, check_id=check_id)
        return None if info is None else {**info.model_dump(), "retired": True}


@router.get("/replay", response_class=HTMLResponse)
def replay_page(request: Request) -> HTMLResponse:
    return render(request, "replay.html", page="replay")


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request) -> HTMLResponse:
    return render(request, "incidents.html", page="incidents")


@router.get("/processes", response_class=HTMLResponse)
def processes_page(request: Request) -> HTMLResponse:
    """The processes sharing the database and the shards they hold (/api/v1/replicas); internal,
    so `ui.public_only` turns it off with the rest (dashboards.web.PublicOnlyGate)."""
    return render(request, "processes.html", page="processes")


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    """Alerts firing and held back, deliveries per receiver, silences; acknowledge, silence and
    maintenance forms writing /api/v1 with the API token. Internal: off under `ui.public_only`."""
    return render(request, "alerts.html", page="alerts")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> HTMLResponse:
    """The audit log (/api/v1/audit): every write, sign-in and sign-out. Admins only
    (monitor.auth.policy)."""
    return render(request, "audit.html", page="audit")


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, service: ServiceDep) -> HTMLResponse:
    """The public page: served to anyone, internal links left out."""
    return render(request, "status.html", page="status", title=service.config.ui.title, public=True)

