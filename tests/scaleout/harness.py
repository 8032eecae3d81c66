"""Several real `platform-monitor serve` processes sharing one database, started as a user would
(`python -m monitor serve --config F --port P`, the replica id from the config's `${PM_REPLICA}`),
stopped or killed by PID; and a target that records when each check probed it, so that tests prove
"one probe per check per interval" by counting."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.peers import free_port
from tests.targets import wait_for

START_TIMEOUT = 40.0  # seconds: imports and migrations on a busy 2-core machine
SECRET = "scaleout-secret-5d1e"


class CountingTarget:
    """Answers GET /<check>: 200, or 500 for the paths in `failing`; keeps the time of every hit.
    With `context`, over TLS (https://)."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.hits: dict[str, list[float]] = {}
        self.failing: set[str] = set()
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                with target._lock:
                    target.hits.setdefault(path, []).append(time.time())
                status = 500 if path in target.failing else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def times(self, path: str, start: float = 0.0, end: float = float("inf")) -> list[float]:
        with self._lock:
            return [t for t in self.hits.get(path, []) if start <= t < end]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(path: Path, *, url: str, target: CountingTarget, checks: int, hook_port: int, interval: float,
                 lease_ttl: float = 3.0, shards: int = 16, extra: str = "") -> list[str]:
    """A config of `checks` http checks c0..cN-1 (component "svc") on `target`, alerts to a webhook
    on `hook_port`; returns the check ids."""
    lines = [f'  - {{name: c{i}, component: svc, kind: http, url: "{target.url}/c{i}"}}' for i in range(checks)]
    path.write_text(f"""
storage: {{url: "{url}", flush_interval: 200ms}}
engine: {{shards: {shards}, lease_ttl: {lease_ttl}s, replica_id: "${{PM_REPLICA}}"}}
defaults: {{interval: {interval}s, timeout: 1s, failure_threshold: 2}}
checks:
{chr(10).join(lines)}
alerts:
  repeat_interval: 0s
  subjects: [check]
  receivers:
    - {{name: hook, kind: webhook, url: "http://127.0.0.1:{hook_port}/", secret: "${{HOOK_SECRET}}"}}
{extra}
""")
    return [f"svc/c{i}" for i in range(checks)]


class OwnProcess:
    """What a test does to a process it started (`process`, `log_path`): signal, kill -9, stop
    (SIGCONT first, so that a paused one can take its SIGTERM), read its log."""

    process: subprocess.Popen | None
    log_path: Path

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Replica(OwnProcess):
    """One `serve` process of the shared config, on its own port, named `name`."""

    def __init__(self, name: str, config: Path, log_dir: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.cwd = cwd
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, "PM_REPLICA": name, "HOOK_SECRET": SECRET, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> Replica:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)
        if wait:
            wait_for(lambda: self.json("/healthz") is not None, timeout=START_TIMEOUT, interval=0.2,
                     what=f"{self.name} answering (log: {self.log_path})")
        return self

    def json(self, path: str) -> dict | list | None:
        try:
            response = httpx.get(self.url + path, timeout=3)
        except httpx.HTTPError:
            return None
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else None

    def replicas(self) -> dict | None:
        return self.json("/api/v1/replicas")

    def me(self) -> dict | None:
        body = self.replicas()
        return next((r for r in body["replicas"] if r["self"]), None) if body else None

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=3).text

    def metric(self, name: str) -> float | None:
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def metric_sum(self, name: str, **labels: str) -> float:
        """The sum of the series of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


def balanced(replicas: list[Replica], shards: int) -> bool:
    """Every live process sees all of them, each holding shards/N (±1), none unheld."""
    body = replicas[0].replicas()
    if not body or body["unheld_shards"] or len(body["replicas"]) != len(replicas):
        return False
    counts = [r["shards"] for r in body["replicas"]]
    return sum(counts) == shards and max(counts) - min(counts) <= 1 and all(
        (me := r.me()) is not None and abs(me["shards"] - shards / len(replicas)) <= 1 for r in replicas)


def max_probes_per_interval(target: CountingTarget, paths: list[str], start: float, end: float,
                            interval: float) -> dict[str, int]:
    """For each path, the most hits inside any window of one interval between start and end (a
    sliding window less a little: two runs a full interval apart must not count as two)."""
    worst: dict[str, int] = {}
    window = interval * 0.8
    for path in paths:
        times = target.times(path, start, end)
        worst[path] = max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)
    return worst


def wait_balanced(replicas: list[Replica], shards: int, timeout: float = 30.0) -> None:
    wait_for(lambda: balanced(replicas, shards), timeout=timeout, interval=0.3,
             what=f"{len(replicas)} processes sharing {shards} shards "
                  f"(last: {replicas[0].replicas()})")
