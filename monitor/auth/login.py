"""/login (the form), /logout: local accounts' sign-in under the failure limit, the session cookie
set and cleared, each recorded in the audit log. Pages are drawn by the UI's renderer
(`app.state.render_page`, set by the app), so this module knows no template engine."""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from monitor.auth.audit import record
from monitor.auth.gate import client_address, runtime, secure_cookies
from monitor.auth.roles import Principal
from monitor.auth.sessions import COOKIE, CSRF_FIELD, cookie_header
from storage.audit import AuditEntry

router = APIRouter(include_in_schema=False)

MAX_FIELD = 1000  # characters of a name or password read at most; longer is refused as wrong


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site (`//evil`, `https:`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return request.app.state.render_page(request, template, status_code=status_code, **context)


def login_form(request: Request, *, status_code: int = 200, error: str = "", name: str = "",
               headers: dict[str, str] | None = None) -> Response:
    config = request.app.state.service.config
    auth = config.auth
    response = page(request, "login.html", status_code, page="login", public=True, error=error, name=name,
                    next=safe_next(request.query_params.get("next")), oidc=bool(auth and auth.oidc),
                    accounts=bool(auth and auth.users), auth_enabled=auth is not None)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return login_form(request)


async def audit_event(request: Request, principal: Principal, *, action: str, status: int, outcome: str,
                      detail: str = "") -> None:
    await record(request.app.state.service, AuditEntry(
        at=datetime.now(UTC), actor=principal.name[:200], role=principal.role, credential=principal.via,
        action=action, target=request.url.path, address=client_address(request.scope), status=status,
        outcome=outcome, detail=detail))


def start_session(request: Request, *, name: str, role: str, source: str, to: str) -> Response:
    """Redirect to `to` with a new session cookie for `name`."""
    rt = runtime(request.app)
    value, _ = rt.codec.new(name=name, role=role, source=source)
    response = RedirectResponse(safe_next(to), status_code=303)
    response.headers.append("set-cookie", cookie_header(
        value, secure=secure_cookies(request.scope, request.app.state.service.config)))
    return response


@router.post("/login")
async def login(request: Request, name: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = "/") -> Response:
    """Check a local account's password (argon2id, in a worker thread): 303 to `next` with a
    session cookie; 401 with the form again; 429 with Retry-After past the failure limit."""
    rt = runtime(request.app)
    address = client_address(request.scope)
    now = time.time()
    wait = rt.limiter.wait(account=name, address=address, now=now)
    if wait > 0:
        rt.limiter.counted("rate_limited")
        return login_form(request, status_code=429, name=name, headers={"Retry-After": str(int(wait) + 1)},
                          error=f"Too many failed sign-ins: try again in {int(wait) // 60 + 1} minutes.")
    role = None
    if 0 < len(name) <= MAX_FIELD and 0 < len(password) <= MAX_FIELD:
        role = await asyncio.to_thread(rt.credentials.check_password, name, password)
    who = Principal(name=name or "(empty)", role=role, credential="session", source="local")
    if role is None:
        known = rt.credentials.user_role(name) is not None
        rt.limiter.fail(account=name, address=address, reason="bad_password" if known else "unknown_user", now=now)
        await audit_event(request, who, action="POST /login", status=401, outcome="refused",
                          detail="wrong name or password")
        return login_form(request, status_code=401, name=name, error="Wrong name or password.")
    rt.limiter.succeed(account=name)
    await audit_event(request, who, action="POST /login", status=303, outcome="success")
    return start_session(request, name=name, role=role, source="local", to=next)


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "") -> Response:
    """End this browser's session (the form carries the session's CSRF token)."""
    rt = runtime(request.app)
    value = request.cookies.get(COOKIE, "")
    session = rt.codec.read(value) if value else None
    response = RedirectResponse("/login", status_code=303)
    if session is None:
        return response
    if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        rt.limiter.counted("csrf")
        return Response("this sign-out needs the session's CSRF token", status_code=403, media_type="text/plain")
    response.headers.append("set-cookie", cookie_header(
        "", secure=secure_cookies(request.scope, request.app.state.service.config), clear=True))
    await audit_event(request, session.principal(), action="POST /logout", status=303, outcome="success")
    return response
