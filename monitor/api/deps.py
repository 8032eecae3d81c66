"""Typed dependencies for the routers: the running service, its engine, a database session."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from monitor.auth.roles import ANONYMOUS, Principal
from monitor.engine import Engine
from monitor.service import Service

STORAGE_RETRY_AFTER = 5  # seconds a client is asked to wait after a 503 for storage (Retry-After)


class StorageUnavailable(HTTPException):
    """503 for a database that is down, hung or locked: the body names the problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(status.HTTP_503_SERVICE_UNAVAILABLE, f"storage: {reason}",
                         headers={"Retry-After": str(STORAGE_RETRY_AFTER)})


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_engine(request: Request) -> Engine:
    return request.app.state.service.engine


def get_session(request: Request) -> Iterator[Session]:
    """A session, unless the storage watchdog says the database is down or hung: then 503 with
    its reason at once, rather than one more thread waiting on the database."""
    service = request.app.state.service
    health = service.engine.storage_health
    reason = health.reason() if health is not None else None
    if reason is not None:
        raise StorageUnavailable(reason)
    session = Session(service.db)
    try:
        yield session
    finally:
        try:
            session.close()  # rolls back on the connection: one the database cut fails here too
        except (sa_exc.OperationalError, sa_exc.InterfaceError):
            with contextlib.suppress(Exception):
                session.invalidate()  # the route's own error (a 503) has been answered already


ServiceDep = Annotated[Service, Depends(get_service)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


def write_refusal(expected: str | None, authorization: str) -> tuple[int, str] | None:
    """Why a write with this Authorization header is refused (status, message), or None when the
    bearer token equals `server.api_token`. With no token configured, writes are refused (403)
    rather than left open. Shared by the request guard (before the body is read) and the routes."""
    if not expected:
        return status.HTTP_403_FORBIDDEN, "write endpoints are disabled: set server.api_token"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required"
    return None


def require_token(request: Request) -> None:
    """Write endpoints. The auth gate (monitor.auth.gate) has decided already and left who asked
    in `request.state.principal`; without its decision, a bearer token equal to `server.api_token`
    (see write_refusal)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.signed_in:
        return
    refusal = write_refusal(request.app.state.service.config.server.api_token,
                            request.headers.get("authorization", ""))
    if refusal is not None:
        code, message = refusal
        headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
        raise HTTPException(code, message, headers=headers)


WriteAccess = Depends(require_token)


def get_principal(request: Request) -> Principal:
    """Who sent the request, as the auth gate found it."""
    return getattr(request.state, "principal", ANONYMOUS)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def actor_name(principal: Principal, typed: str) -> str:
    """The name recorded as `by` of an acknowledgement or a silence: the signed-in user or named
    token; with the shared `server.api_token` (one credential for everyone), the name typed in."""
    return principal.name if principal.credential in ("session", "token") else typed
