"""Hostile targets on loopback, one listening socket each: they accept and never answer, answer one
byte per second, send an endless body, send huge headers, reset mid-response, or stall a TLS
handshake. Threads in the test process; `close()` ends them all."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass

KINDS = ("silent", "one-byte-per-second", "endless-body", "huge-headers", "reset-mid-response", "tls-stall")
HUGE_HEADERS_BYTES = 4 * 1024 * 1024  # more than any client should buffer for headers


@dataclass
class Hostile:
    kind: str
    port: int

    @property
    def url(self) -> str:
        scheme = "https" if self.kind == "tls-stall" else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{self.kind}"


class HostileTargets:
    def __init__(self, count: int) -> None:
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.targets: list[Hostile] = []
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            listener = socket.create_server(("127.0.0.1", 0), backlog=64)
            self._sockets.append(listener)
            self.targets.append(Hostile(kind, listener.getsockname()[1]))
            threading.Thread(target=self._accept, args=(listener, kind), daemon=True).start()

    def _accept(self, listener: socket.socket, kind: str) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn, kind), daemon=True).start()

    def _serve(self, conn: socket.socket, kind: str) -> None:
        try:
            if kind == "tls-stall":
                conn.recv(65536)  # the ClientHello: never answered
            elif kind != "silent":
                conn.recv(65536)  # the request
            if kind == "one-byte-per-second":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    conn.sendall(bytes([byte]))
                    if self._stop.wait(1.0):
                        return
            elif kind == "endless-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                chunk = b"x" * 65536
                while not self._stop.is_set():
                    conn.sendall(chunk)
            elif kind == "huge-headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                line = b"X-Pad: " + b"a" * 8000 + b"\r\n"
                for _ in range(HUGE_HEADERS_BYTES // len(line)):
                    conn.sendall(line)
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            elif kind == "reset-mid-response":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST
                return
            self._stop.wait()  # hold the connection open, say nothing more
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
