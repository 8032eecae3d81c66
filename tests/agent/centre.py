"""A protocol double of the central service for agent tests: the endpoints of docs/agents.md
(`GET /api/v1/agent/checks` with its long poll, `POST /api/v1/agent/results`, `.../discovered`) under uvicorn in a
thread on 127.0.0.1, recording every batch. A test switches its answers (503, 401, a smaller body
limit, a skewed clock), changes the assignment, and stops and restarts it on the same port."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

DEFAULT_SETTINGS = {"push_interval": 0.2, "heartbeat_interval": 1.0, "batch_max": 1000, "buffer": 100_000,
                    "max_clock_skew": 5.0}


@dataclass
class Recorded:
    """What the double saw: every batch it answered 200 (envelope and results), every status it gave."""

    batches: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    fetches: int = 0
    discovered: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # source → its checks

    @property
    def results(self) -> list[dict[str, Any]]:
        return [r for b in self.batches for r in b["results"]]


class Centre:
    def __init__(self, *, token: str, checks: list[dict[str, Any]], settings: dict[str, Any] | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        self.token = token
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.checks = checks
        self.clusters: list[dict[str, Any]] = []
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.skew = 0.0  # seconds the double's clock is ahead of this machine's
        self.answer: int | None = None  # answer every request with this status (401, 503 ...) instead
        self.max_results = 5000  # more in one batch: 413
        self.refuse: set[str] = set()  # check ids not assigned to the agent (403 with `refused`)
        self.recorded = Recorded()
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- what a test changes -------------------------------------------------------------------
    @property
    def version(self) -> str:
        text = json.dumps([self.checks, self.clusters, self.settings], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def now(self) -> float:
        return round(time.time() + self.skew, 3)

    def stored(self) -> dict[tuple[str, float], dict[str, Any]]:
        """The results kept as the real centre keeps them: once per (check, time)."""
        with self._lock:
            return {(r["check"], r["time"]): r for r in self.recorded.results}

    def results(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.recorded.results)

    def _holds(self, known: str, deadline: float) -> bool:
        server = self._server
        return known == self.version and time.monotonic() < deadline and server is not None and not server.should_exit

    # -- the app -------------------------------------------------------------------------------
    def _app(self) -> FastAPI:
        app = FastAPI()

        def refusal(request: Request) -> Response | None:
            status = self.answer
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                status = 401
            if status is None:
                return None
            with self._lock:
                self.recorded.statuses.append(status)
            if status == 401:
                return JSONResponse({"detail": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
            return JSONResponse({"detail": f"answering {status}"}, status, headers={"Retry-After": "1"})

        @app.get("/api/v1/agent/checks")
        async def checks(request: Request, wait: float = 0.0) -> Response:
            if (refused := refusal(request)) is not None:
                return refused
            with self._lock:
                self.recorded.fetches += 1
            known = request.headers.get("If-None-Match", "").strip('"')
            deadline = time.monotonic() + min(wait, 60.0)
            # the test's thread changes the assignment: polled, not an asyncio.Event of this loop
            while self._holds(known, deadline):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if known == self.version:
                return Response(status_code=304, headers={"ETag": f'"{self.version}"'})
            version = self.version
            body = {"agent": "test", "version": version, "server_time": self.now(), "settings": self.settings,
                    "checks": self.checks, "clusters": self.clusters}
            return JSONResponse(body, headers={"ETag": f'"{version}"'})

        @app.post("/api/v1/agent/results")
        async def results(request: Request) -> Response:
            if (refused := refusal(request)) is not None:
                return refused
            body = await request.json()
            if len(body["results"]) > self.max_results:
                with self._lock:
                    self.recorded.statuses.append(413)
                return JSONResponse({"detail": "too many results"}, 413)
            refused_checks = sorted({r["check"] for r in body["results"]} & self.refuse)
            if refused_checks:
                with self._lock:
                    self.recorded.statuses.append(403)
                return JSONResponse({"detail": "not assigned", "refused": refused_checks}, 403)
            with self._lock:
                known = {(r["check"], r["time"]) for r in self.recorded.results}
                duplicates = sum(1 for r in body["results"] if (r["check"], r["time"]) in known)
                self.recorded.batches.append(body)
                self.recorded.statuses.append(200)
            return JSONResponse({"accepted": len(body["results"]) - duplicates, "duplicates": duplicates,
                                 "server_time": self.now()})

        @app.post("/api/v1/agent/discovered")
        async def discovered(request: Request) -> Response:
            if (refused := refusal(request)) is not None:
                return refused
            body = await request.json()
            if not body["source"].startswith("cluster:"):
                return JSONResponse({"detail": f"{body['source']} is not a cluster at this location"}, 403)
            with self._lock:
                self.recorded.discovered[body["source"]] = body["checks"]
            return JSONResponse({"checks": len(body["checks"])})

        return app

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Centre:
        self._server = uvicorn.Server(uvicorn.Config(self._app(), host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off", loop="asyncio",
                                                     timeout_graceful_shutdown=0.5,  # long polls are cut
                                                     ssl_certfile=self.tls[0] if self.tls else None,
                                                     ssl_keyfile=self.tls[1] if self.tls else None))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the centre double did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None
