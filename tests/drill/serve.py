"""The real service for the drill: `python -m monitor serve` as a subprocess on a free loopback port,
its log in a file, stopped by its own PID; and a private PostgreSQL a test may SIGSTOP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.peers import Peer, free_port
from tests.services.db_servers import _as_postgres, _pg_bin, _pg_server, _run, _stop_postgres, _wait_pg_ready
from tests.targets import wait_for

SERVE_START_TIMEOUT = 40.0  # seconds: imports, migrations on a busy 2-core box
SERVE_STOP_TIMEOUT = 30.0  # seconds before SIGKILL in the finally of a test


class Serve:
    """One `monitor serve` process. `config` is the YAML text without its `server:` line; `server`
    adds to that line (", api_token: x")."""

    def __init__(self, tmp_path: Path, config: str, *, server: str = "", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = tmp_path / "pm.yaml"
        self.config_path.write_text(f"server: {{host: 127.0.0.1, port: {self.port}{server}}}\n{config}")
        self.log_path = tmp_path / "service.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, *, ready: bool = True) -> Serve:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "serve", "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: self.answers("/readyz", 200 if ready else None), timeout=SERVE_START_TIMEOUT,
                 interval=0.2, what=f"the service on {self.url} (log: {self.log_path})")
        return self

    def answers(self, path: str, status: int | None = None) -> bool:
        try:
            response = self.get(path, timeout=2)
        except httpx.HTTPError:
            return False
        return status is None or response.status_code == status

    def get(self, path: str, *, timeout: float = 10.0, **kw: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout, **kw)

    def timed_get(self, path: str, *, timeout: float = 10.0) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = self.get(path, timeout=timeout)
        return response, time.monotonic() - started

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled series, from /metrics."""
        for line in self.get("/metrics", timeout=2).text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def terminate(self, timeout: float = SERVE_STOP_TIMEOUT) -> float:
        """SIGTERM; the seconds until the process exits (SIGKILL after `timeout`, then raises)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            tail = "\n".join(self.log().splitlines()[-40:])
            raise AssertionError(f"the service did not stop within {timeout:.0f}s of SIGTERM:\n{tail}") from None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class PrivatePostgres:
    """A private PostgreSQL server (trust auth) whose processes a test may stop and continue."""

    port: int
    peer: Peer

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pids(self) -> list[int]:
        """The postmaster, then its children (backends, checkpointer ...): each child calls
        setsid(), so the postmaster's process group does not reach them."""
        root = self.peer.process.pid
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == root:
                    children.append(int(stat.parent.name))
        return [root, *children]

    def stop_processes(self) -> None:
        """SIGSTOP the whole server, the postmaster first (it forks no new backend meanwhile).
        Its kernel still completes handshakes and ACKs data."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def continue_processes(self) -> None:
        for pid in reversed(self._pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb and start a PostgreSQL of our own on a free port; stopped by its PID afterwards."""
    bin_dir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="pm-drill-pg-"))  # not under pytest's root-only tmp dir
    peer: Peer | None = None
    server: PrivatePostgres | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        _run([*_as_postgres(), str(bin_dir / "initdb"), "-D", str(base / "data"), "-U", "postgres",
              "-A", "trust", "--no-sync"], base / "setup.log")
        port = free_port()
        peer = _pg_server(bin_dir, base / "data", port, base, "drill").start()
        _wait_pg_ready(bin_dir, port)
        server = PrivatePostgres(port, peer)
        yield server
    finally:
        if server is not None:
            server.continue_processes()  # a stopped server would not stop
        if peer is not None:
            _stop_postgres(peer)
        shutil.rmtree(base, ignore_errors=True)
