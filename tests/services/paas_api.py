"""A small PaaS-like API for the flow probe tests, served by uvicorn on 127.0.0.1: password login
returning a token, token-protected app endpoints, an OAuth2 client-credentials token endpoint, a
cookie session, and knobs a test turns to break or slow one endpoint."""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

USER, PASSWORD = "robot", "robot-pw-1"
CLIENT_ID, CLIENT_SECRET = "monitor", "client-secret-1"
APPS = [{"id": 7, "name": "web"}, {"id": 9, "name": "worker"}]


@dataclass
class Knobs:
    """What a test changes while the API runs; and what the API saw."""

    broken: set[str] = field(default_factory=set)  # paths answering 500
    delay: dict[str, float] = field(default_factory=dict)  # path → seconds before answering
    tokens: set[str] = field(default_factory=set)
    seen: list[dict[str, Any]] = field(default_factory=list)  # method, path, authorization, cookie


class Login(BaseModel):
    user: str
    password: str


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def create_api(knobs: Knobs) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def knobs_middleware(request: Request, call_next):
        knobs.seen.append({"method": request.method, "path": request.url.path,
                           "authorization": request.headers.get("authorization"),
                           "cookie": request.headers.get("cookie")})
        if request.url.path in knobs.delay:
            await asyncio.sleep(knobs.delay[request.url.path])
        if request.url.path in knobs.broken:
            return JSONResponse({"error": "broken on purpose"}, status_code=500)
        return await call_next(request)

    def bearer_ok(authorization: str | None) -> bool:
        return bool(authorization) and authorization.removeprefix("Bearer ") in knobs.tokens

    @app.post("/api/login")
    async def login(body: Login) -> Response:
        if (body.user, body.password) != (USER, PASSWORD):
            return JSONResponse({"error": "bad credentials"}, status_code=401)
        token = f"tok-{secrets.token_hex(8)}"
        knobs.tokens.add(token)
        return JSONResponse({"access_token": token, "user": body.user},
                            headers={"X-Request-Id": f"req-{secrets.token_hex(4)}"})

    @app.get("/api/apps")
    async def apps(authorization: Annotated[str | None, Header()] = None) -> Response:
        if not bearer_ok(authorization):
            return _unauthorized()
        return JSONResponse({"items": APPS})

    @app.get("/api/apps/{app_id}")
    async def app_detail(app_id: int, authorization: Annotated[str | None, Header()] = None) -> Response:
        if not bearer_ok(authorization):
            return _unauthorized()
        found = [a for a in APPS if a["id"] == app_id]
        return JSONResponse(found[0]) if found else JSONResponse({"error": "no such app"}, status_code=404)

    @app.post("/api/apps/{app_id}/echo")
    async def echo(app_id: int, request: Request) -> Response:
        return JSONResponse({"app_id": app_id, "received": await request.json()})

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        # Parsed by hand: FastAPI's Form() needs python-multipart, which the service does not.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            client_id, client_secret = unquote_plus(user), unquote_plus(password)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed"},
                                status_code=401)
        scope = form.get("scope")
        access = f"oauth-{secrets.token_hex(8)}"
        knobs.tokens.add(access)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                             "scope": scope or ""})

    @app.post("/session")
    async def session() -> Response:
        response = RedirectResponse("/me", status_code=303)
        response.set_cookie("sid", "s-123", httponly=True)
        return response

    @app.get("/me")
    async def me(request: Request) -> Response:
        if request.cookies.get("sid") != "s-123":
            return JSONResponse({"error": "no session"}, status_code=401)
        return JSONResponse({"user": USER, "csrf": "<meta name=csrf content=abc123>"})

    return app
