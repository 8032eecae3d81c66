"""Real loopback servers for engine and service tests: an HTTP target whose answer a test can
change while the service probes it, and the service itself under uvicorn in a thread."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn


@dataclass
class Behaviour:
    status: int = 200
    body: bytes = b'{"status": "ok"}'
    delay: float = 0.0
    hits: dict[str, int] = field(default_factory=dict)


class HttpTarget:
    """An HTTP server on 127.0.0.1 answering every path per `behaviour` (mutable by the test)."""

    def __init__(self) -> None:
        behaviour = self.behaviour = Behaviour()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                behaviour.hits[self.path] = behaviour.hits.get(self.path, 0) + 1
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                body = behaviour.body
                self.send_response(behaviour.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ServiceThread:
    """The whole service (create_app) under uvicorn in a background thread."""

    def __init__(self, app, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on", loop="asyncio"))
        self.app = app
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 20.0) -> ServiceThread:
        self._thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)

    @property
    def service(self):
        return self.app.state.service

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def json(self, path: str):
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {json.dumps(last, default=str)[:500]})")
