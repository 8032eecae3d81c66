"""The request gate: outermost, before anything reads a body. It learns who a request is (bearer
token, session cookie, or nobody), decides from monitor.auth.policy whether that may reach the
route, demands the CSRF token of cookie-authenticated writes, and records every write in the audit
log once it is answered. Routes find the Principal in `request.state.principal`."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.asgi_json import send_json
from monitor.auth.audit import record_write
from monitor.auth.config import AuthConfig
from monitor.auth.credentials import Credentials
from monitor.auth.limits import FailureLimiter
from monitor.auth.policy import Level, level_for, template_of
from monitor.auth.roles import ANONYMOUS, Principal, at_least
from monitor.auth.sessions import COOKIE, CSRF_HEADER, SESSION_REFRESH, SessionCodec, cookie_header, new_secret

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PAGE_EXCLUDED = ("/api/", "/ui/", "/status/data", "/metrics", "/openapi.json")
"""GETs that are data, not pages: refused with 401, never redirected to the login form."""


class AuthRuntime:
    """What the gate and the login routes share for one app: the failure limiter, the session
    key, and the credentials of the running config (rebuilt when a reload replaces it)."""

    def __init__(self) -> None:
        self.limiter = FailureLimiter()
        self._own_secret = new_secret()
        self._for: Any = None
        self.credentials = Credentials(None, None)
        self.codec = SessionCodec(self._own_secret)

    def update(self, config: Any) -> None:
        """Take the config's tokens, accounts and session key (cheap when it is the same config)."""
        if config is self._for:
            return
        auth: AuthConfig | None = config.auth
        self.credentials = Credentials(auth, config.server.api_token)
        self.codec = SessionCodec(auth.session_secret if auth and auth.session_secret else self._own_secret)
        self._for = config


def runtime(app: Any) -> AuthRuntime:
    """The app's AuthRuntime, brought up to date with the running config."""
    state = app.state
    rt: AuthRuntime | None = getattr(state, "auth", None)
    if rt is None:
        rt = state.auth = AuthRuntime()
    service = getattr(state, "service", None)
    if service is not None:
        rt.update(service.config)
    return rt


def allowed(level: Level, principal: Principal, *, anonymous: str, metrics: str) -> bool:
    """Whether `principal` may reach a route of `level` (anonymous: what nobody-signed-in sees)."""
    if level == "open":
        return True
    if level == "status":
        return principal.signed_in or anonymous in ("status", "viewer")
    if level == "metrics":
        return metrics == "public" or principal.signed_in
    if at_least(principal.role, level):
        return True
    return level == "viewer" and anonymous == "viewer" and principal.credential == "anonymous"


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def secure_cookies(scope: Scope, config: Any) -> bool:
    """Secure cookies over HTTPS, or when people reach the service at an https public_url (a
    TLS-terminating proxy in front)."""
    public = config.server.public_url or ""
    return scope.get("scheme") == "https" or public.startswith("https://")


class AuthGate:
    """Pure ASGI middleware; see the module docstring. Without an `auth:` block it enforces
    what the service always did: reads are open, writes need `server.api_token`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        level = level_for(method, path)
        state = scope.setdefault("state", {})
        if level == "open":
            state["principal"] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        service = getattr(app.state, "service", None)
        if service is None:  # not started yet
            await self.app(scope, receive, send)
            return
        config = service.config
        if config.ui.public_only:  # only the public page is served (dashboards.web.PublicOnlyGate): nothing to guard
            state["principal"] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        rt = runtime(app)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        address = client_address(scope)
        auth = config.auth
        if auth is not None and headers.get("authorization"):  # guessing tokens: no answer says if one is right
            wait = rt.limiter.wait(account=None, address=address, now=time.time(), kind="token")
            if wait > 0:
                rt.limiter.counted("rate_limited")
                await send_json(send, 429, {"detail": "too many failed attempts from this address: try again later"},
                                headers={"retry-after": str(int(wait) + 1)}, close=method in WRITE_METHODS)
                return
        principal, bad_token, refresh = self._who(headers, rt)
        if bad_token:
            rt.limiter.fail(account=None, address=address, reason="bad_token", now=time.time(), kind="token")
        anonymous = auth.anonymous if auth is not None else "viewer"
        metrics = auth.metrics if auth is not None else "public"
        is_write = method in WRITE_METHODS
        refusal = None
        if not allowed(level, principal, anonymous=anonymous, metrics=metrics):
            refusal = self._refusal(level, principal, method, path, scope, bad_token, rt, auth is None)
        elif is_write and principal.credential == "session" and not _csrf_ok(headers, principal):
            rt.limiter.counted("csrf")
            refusal = (403, {"detail": "this write needs the session's CSRF token (the X-CSRF-Token header)"}, {})
        if refusal is not None:
            code, body, extra = refusal
            if is_write and principal.signed_in:
                await record_write(service, principal, method=method, path=path, address=address, status=code,
                                   action=_action(method, path), detail=str(body.get("detail", "")))
            await send_json(send, code, body, headers=extra, close=is_write)
            return
        state["principal"] = principal
        cookie = None
        if refresh is not None:
            cookie = cookie_header(rt.codec.sign(refresh), secure=secure_cookies(scope, config))
        if not is_write:
            await self.app(scope, receive, _with_cookie(send, cookie))
            return
        await self._audited(scope, receive, _with_cookie(send, cookie), service, principal, address)

    async def _audited(self, scope: Scope, receive: Receive, send: Send, service: Any, principal: Principal,
                       address: str) -> None:
        """Serve a write, then record it with the status it was answered with."""
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        method, path = scope["method"], scope["path"]
        try:
            await self.app(scope, receive, watch)
        finally:  # a route may say more for the record (who acknowledged, which silence): `audit_detail`
            await record_write(service, principal, method=method, path=path, address=address,
                               status=status[0] if status else 500, action=_action(method, path),
                               detail=str(scope["state"].get("audit_detail", "")))

    @staticmethod
    def _who(headers: dict[str, str], rt: AuthRuntime) -> tuple[Principal, bool, Any]:
        """(principal, a bearer token was presented and is wrong, a session to sign again)."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token:
                found = rt.credentials.token(token.strip())
                return (found, False, None) if found is not None else (ANONYMOUS, True, None)
        value = _cookie(headers.get("cookie", ""))
        if value:
            session = rt.codec.read(value)
            if session is not None:
                role = session.role
                if session.source == "local":
                    role = rt.credentials.user_role(session.name)  # removed or changed since the login
                if role is not None:
                    stale = time.time() - session.signed_at > SESSION_REFRESH.total_seconds()
                    principal = Principal(name=session.name, role=role, credential="session",  # type: ignore[arg-type]
                                          csrf=session.csrf, source=session.source)
                    return principal, False, session if stale else None
        return ANONYMOUS, False, None

    @staticmethod
    def _refusal(level: Level, principal: Principal, method: str, path: str, scope: Scope, bad_token: bool,
                 rt: AuthRuntime, legacy: bool) -> tuple[int, dict[str, Any], dict[str, str]]:
        if principal.signed_in:
            return 403, {"detail": f"{principal.name} ({principal.role}) may not do this: it needs the "
                                   f"{level} role"}, {}
        if legacy and not rt.credentials.has_tokens and method in WRITE_METHODS:
            return 403, {"detail": "write endpoints are disabled: set server.api_token"}, {}
        if method == "GET" and not path.startswith(PAGE_EXCLUDED) and not bad_token:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + ("?" + query if query else "")
            return 303, {"detail": "sign in first"}, {"location": "/login?next=" + quote(target, safe="/")}
        message = "the bearer token is not valid" if bad_token else "sign in, or send a valid bearer token"
        if legacy and method in WRITE_METHODS:
            message = "a valid bearer token is required"
        return 401, {"detail": message}, {"www-authenticate": 'Bearer realm="platform-monitor"'}


def _csrf_ok(headers: dict[str, str], principal: Principal) -> bool:
    presented = headers.get(CSRF_HEADER, "")
    return bool(presented) and hmac.compare_digest(presented.encode(), principal.csrf.encode())


def _cookie(header: str) -> str:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


def _action(method: str, path: str) -> str:
    return f"{method} {template_of(method, path) or path}"


def _with_cookie(send: Send, cookie: str | None) -> Send:
    if cookie is None:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)

    return sending
