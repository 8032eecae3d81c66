"""Typed dependencies for the routers: the running service, its engine, a database session."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from monitor.engine import Engine
from monitor.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_engine(request: Request) -> Engine:
    return request.app.state.service.engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.service.db) as session:
        yield session


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
    """Write endpoints: a bearer token equal to `server.api_token` (see write_refusal)."""
    refusal = write_refusal(request.app.state.service.config.server.api_token,
                            request.headers.get("authorization", ""))
    if refusal is not None:
        code, message = refusal
        headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
        raise HTTPException(code, message, headers=headers)


WriteAccess = Depends(require_token)
