"""What the API answers when its database fails: 503 with the reason (`{"detail": "storage: ..."}`),
never a bare 500 and never a hang. Database errors raised by a route become 503; a request still
waiting for its answer when the storage watchdog declares the database down is answered 503 at
once, and the thread it was waiting on is left behind (bounded by the pool: storage/db.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.api.deps import STORAGE_RETRY_AFTER
from storage.health import storage_reason

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.1  # seconds between looks at the watchdog while a request waits for its answer
NEVER_GUARDED = frozenset({"/healthz", "/readyz", "/metrics"})
"""They never touch the database and must answer whatever it does."""
DATABASE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
"""Connection lost or refused, lock wait over, pool checkout over: the database's state, not a bug."""


def _health(scope: Scope):
    service = getattr(scope["app"].state, "service", None)
    return service.engine.storage_health if service is not None else None


def _storage_response(reason: str) -> JSONResponse:
    return JSONResponse({"detail": f"storage: {reason}"}, status_code=503,
                        headers={"Retry-After": str(STORAGE_RETRY_AFTER)})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    health = _health(request.scope)
    watchdog = health.reason() if health is not None else None
    reason = watchdog or storage_reason(exc)
    log.warning("%s %s: storage: %s", request.method, request.url.path, reason)
    return _storage_response(reason)


class HungStorageGuard:
    """Pure ASGI: runs the request beside a watch on the storage watchdog. If the database is
    declared down before the response starts, answers 503 and drops whatever the abandoned
    request sends later. Costs one task per request on healthy paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_GUARDED:
            await self.app(scope, receive, send)
            return
        started = False
        abandoned = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        try:
            while True:
                await asyncio.wait({task}, timeout=WATCH_INTERVAL)
                if task.done() or started:
                    await task
                    return
                health = _health(scope)
                reason = health.reason() if health is not None else None
                if reason is not None:
                    abandoned = True
                    task.add_done_callback(_swallow)
                    log.warning("%s %s: storage: %s (answered 503, the request is left waiting)",
                                scope.get("method"), scope["path"], reason)
                    await _storage_response(reason)(scope, receive, send)
                    return
        except asyncio.CancelledError:
            task.cancel()
            raise


def _swallow(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(BaseException):
        task.result()


def install_storage_guard(app: FastAPI) -> None:
    """503 with the reason for database errors and for requests caught by a database hang."""
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_error)
    app.add_middleware(HungStorageGuard)
