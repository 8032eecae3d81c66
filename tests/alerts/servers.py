"""Loopback servers standing in for alert receivers: a webhook receiver that verifies our
signatures and counts deliveries by idempotency key, and a recording server for chat robots.
Each can be stopped (port closed) and started again on the same port, and can serve HTTPS."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.peers import free_port

MAX_SKEW = 300  # seconds: a signature older than this is a replay


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class _HttpsServer(ThreadingHTTPServer):
    """Handshakes on each connection's own thread and keeps why a handshake failed and which
    name the client sent as SNI."""

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext,
                 owner: RecordingServer) -> None:
        super().__init__(address, handler)
        self.context = context
        self.owner = owner
        context.sni_callback = lambda _sock, name, _ctx: owner.server_names.append(name)

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError included
            with self.owner._lock:
                self.owner.handshake_errors.append(getattr(exc, "reason", None) or str(exc))
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()


class RecordingServer:
    """Records every POST; `answer(request) -> (status, body)` decides the reply. With
    `ssl_context` it serves HTTPS and records failed handshakes and the SNI names it was sent."""

    def __init__(self, answer: Callable[[Request], tuple[int, bytes]] | None = None, port: int | None = None,
                 ssl_context: ssl.SSLContext | None = None):
        self.port = port or free_port()
        self.ssl_context = ssl_context
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self.handshake_errors: list[str] = []
        self.server_names: list[str | None] = []
        self.requests: list[Request] = []
        self.answer = answer or (lambda request: (200, b'{"errcode": 0, "code": 0}'))
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def start(self) -> RecordingServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner._connections.add(self.connection)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length))
                status, body = owner.handle(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        if self.ssl_context is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        else:
            self._server = _HttpsServer(("127.0.0.1", self.port), Handler, self.ssl_context, self)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def handle(self, request: Request) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(request)
        return self.answer(request)

    def stop(self) -> None:
        """Close the port and every open (keep-alive) connection: the receiver is gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


class WebhookReceiver(RecordingServer):
    """Verifies `X-Platform-Monitor-Signature` the way the README tells receivers to, refuses
    bad or stale signatures (401) and repeats (200, not counted), and keeps the payloads."""

    def __init__(self, secret: str, port: int | None = None, ssl_context: ssl.SSLContext | None = None):
        super().__init__(port=port, ssl_context=ssl_context)
        self.secret = secret.encode()
        self.deliveries: dict[str, dict] = {}  # idempotency key -> payload
        self.repeats: list[str] = []
        self.refused = 0

    def handle(self, request: Request) -> tuple[int, bytes]:
        timestamp = request.headers.get("x-platform-monitor-timestamp", "")
        signature = request.headers.get("x-platform-monitor-signature", "")
        expected = "sha256=" + hmac.new(self.secret, timestamp.encode() + b"." + request.body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected) or abs(time.time() - int(timestamp or 0)) > MAX_SKEW:
            with self._lock:
                self.refused += 1
            return 401, b'{"error": "bad signature"}'
        payload = request.json()
        key = payload["idempotency_key"]
        with self._lock:
            self.requests.append(request)
            if key in self.deliveries:
                self.repeats.append(key)
            else:
                self.deliveries[key] = payload
        return 200, b"{}"

    def events(self, key: str | None = None) -> list[tuple[str, str]]:
        """(alert key, event type) of each distinct delivery, in arrival order."""
        with self._lock:
            payloads = list(self.deliveries.values())
        return [(p["alert"]["key"], p["type"]) for p in payloads if key is None or p["alert"]["key"] == key]
