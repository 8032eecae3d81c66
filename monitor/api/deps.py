"""Typed dependencies for the routers: the running service, its engine, a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
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
