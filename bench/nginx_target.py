"""The probe target for benchmarks: one nginx worker on 127.0.0.1 answering every path with a fixed
200, in its own process (so its CPU is never counted as the prober's). Loopback only."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 10.0  # seconds for nginx to accept connections

_CONF = """\
worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to 0, read it back, release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Return once 127.0.0.1:`port` accepts a connection; raise if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


@contextlib.contextmanager
def nginx(workdir: Path) -> Iterator[int]:
    """Run nginx under `workdir` (a fresh one per benchmark run, so TIME_WAIT sockets of one run
    never collide with the next); yield its port, stop it by its PID on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(_CONF.format(d=workdir, port=port))
    errlog = workdir / "error.log"
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-e", str(errlog), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, START_TIMEOUT, proc)
        yield port
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown, master and worker
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
