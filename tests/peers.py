"""Running real peer servers in tests: free loopback ports, a Peer process started until it answers and
stopped at teardown, and require_peer (skip when a peer is missing, fail under CI=true).
Knows nothing of platform-monitor itself; the per-peer fixtures live in peer_servers.py and
peer_databases.py, and tests/conftest.py exposes them all.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

START_TIMEOUT = 30.0  # seconds; etcd's leader election takes ~1 s, the others answer in < 0.5 s
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
POLL_INTERVAL = 0.05  # seconds between readiness attempts
LOG_TAIL_LINES = 40

# binary -> the Debian package that provides it, for skip and failure messages
PACKAGES = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "docker-registry": "docker-registry",
    "etcd": "etcd-server",
    "prometheus-node-exporter": "prometheus-node-exporter",
    "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
    "nginx": "nginx-light",
    "htpasswd": "apache2-utils",
    "chromium": "chromium",
    "promtool": "prometheus",
    "buildah": "buildah",
    "debootstrap": "debootstrap",
}


class PeerError(RuntimeError):
    """A peer did not start or did not become ready; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_peer(binary_or_check: str | Callable[[], bool], why: str) -> str:
    """Skip the test when a peer is missing, or fail it when CI=true (CI must not pass by skipping).

    `binary_or_check` is a binary name or path (returns its full path), or a callable that returns
    whether the peer is there (returns ""). `why` says what needs it and how to get it.
    """
    if callable(binary_or_check):
        if binary_or_check():
            return ""
        peer_missing(why)
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(binary_or_check, path=search)
    if found:
        return found
    package = PACKAGES.get(Path(binary_or_check).name)
    hint = f" (Debian package {package}; `bash scripts/test.sh` installs it)" if package else ""
    peer_missing(f"{binary_or_check} not found{hint}: {why}")


def peer_missing(reason: str) -> NoReturn:
    """Skip the running test because a peer is missing, or fail it when CI=true."""
    message = f"peer missing: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def below_500(status: int) -> bool:
    return status < 500


def is_200(status: int) -> bool:
    return status == 200


@dataclass
class Peer:
    """One server process: started with `argv`, its output in `log_path`, ready when `ready_url`
    answers (with a status accepted by `ready_status`; default any status below 500) or, without a
    URL, when `ready_port` accepts TCP connections."""

    name: str
    argv: Sequence[str]
    log_path: Path
    url: str = ""  # base URL tests talk to, without a trailing slash
    ready_url: str | None = None
    ready_port: int | None = None
    ready_status: Callable[[int], bool] = below_500
    ready_client: Mapping[str, Any] = field(default_factory=dict)  # httpx.Client kwargs (verify, cert)
    env: Mapping[str, str] | None = None
    timeout: float = START_TIMEOUT
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> Peer:
        """Start the process and wait until it is ready; raise PeerError (log tail included) if not."""
        if self.ready_url is None and self.ready_port is None:
            raise ValueError(f"{self.name}: give ready_url or ready_port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # A session of its own, so that stop() reaches the children too (nginx workers).
            self.process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else {**os.environ, **self.env},
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        with httpx.Client(timeout=1.0, **self.ready_client) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    reason = f"{self.name} exited with status {code} before it was ready"
                    raise PeerError(reason + self._tail())
                if self.ready_url is not None:
                    try:
                        status = client.get(self.ready_url).status_code
                        if self.ready_status(status):
                            return
                        last = f"{self.ready_url} answered {status}"
                    except httpx.HTTPError as exc:
                        last = f"{self.ready_url}: {type(exc).__name__}: {exc}"
                elif tcp_answers("127.0.0.1", self.ready_port or 0, timeout=0.5):
                    return
                else:
                    last = f"port {self.ready_port} refuses connections"
                if time.monotonic() > deadline:
                    reason = f"{self.name} not ready after {self.timeout:.0f} s ({last})"
                    raise PeerError(reason + self._tail())
                time.sleep(POLL_INTERVAL)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after STOP_TIMEOUT."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the peer's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _tail(self) -> str:
        return f"\n--- {self.log_path} (last {LOG_TAIL_LINES} lines) ---\n{self.log_tail()}"

    def __enter__(self) -> Peer:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PeerStack:
    """Peers started for one test, stopped in reverse order at teardown; hands out their temp dirs."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._peers: list[Peer] = []

    def tmpdir(self, name: str) -> Path:
        """A fresh directory for one peer's config, data and log."""
        return self._tmp.mktemp(name)

    def start(self, peer: Peer) -> Peer:
        """Start `peer` and stop it at teardown."""
        self._peers.append(peer)
        return peer.start()

    def stop_all(self) -> None:
        while self._peers:
            self._peers.pop().stop()


@pytest.fixture
def peer_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerStack]:
    """Start any Peer with `peer_stack.start(Peer(...))`; everything is stopped after the test."""
    stack = PeerStack(tmp_path_factory)
    try:
        yield stack
    finally:
        stack.stop_all()
