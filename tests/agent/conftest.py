"""Fixtures of the agent tests: a loopback HTTP target, the centre double, and the agent as a real
`platform-monitor agent` process (its log in a file, its /metrics and /readyz read over HTTP)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.agent.centre import Centre
from tests.targets import HttpTarget

TOKEN = "agent-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
NO_GAP = 1.0
"""Seconds between two results of a check (run every 200 ms) that still count as no gap: a loaded
machine delays some runs; a lost stretch of results would be seconds."""


def max_gap(times: list[float]) -> float:
    return max(b - a for a, b in pairwise(sorted(times)))


def http_check(target: HttpTarget, name: str, interval: str = "200ms") -> dict:
    return {"name": name, "component": "t", "kind": "http", "url": f"{target.url}/{name}", "interval": interval,
            "timeout": "2s"}  # under load a run may wait; a timed-out request may never reach the target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class AgentProcess:
    """`python -m monitor agent ...` against `centre`, with its buffer file in `directory`."""

    def __init__(self, centre: Centre, directory: Path, *args: str, name: str = "test-dc",
                 token: str = TOKEN) -> None:
        self.centre, self.directory, self.args, self.name = centre, directory, args, name
        self.token_file = directory / "token"
        self.token_file.write_text(f"  {token}\n")
        self.buffer = directory / "buffer.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "agent.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        command = [sys.executable, "-m", "monitor", "--log-level", "info", "agent", "--server", self.centre.url,
                   "--name", self.name, "--token-file", str(self.token_file), "--buffer", str(self.buffer),
                   "--listen", f"127.0.0.1:{self.port}", *self.args]
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={**os.environ, "PM_AGENT_TOKEN": ""})
        log.close()
        wait_for(self._answers, 20, "the agent's /healthz")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the agent exited ({self.proc.returncode}):\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text()

    def counts(self) -> dict[str, int]:
        """The last run's own count at its stop: results `waiting` in the file, `made`, `accepted`."""
        found = re.findall(r"buffer file closed with (\d+) results waiting \(this run: (\d+) results made, (\d+) "
                           r"accepted by the centre\)", self.log())
        waiting, made, accepted = map(int, found[-1])
        return {"waiting": waiting, "made": made, "accepted": accepted}

    def metrics(self) -> dict[str, float]:
        """The agent's own series (platform_monitor_agent_*), by name with labels."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        out = {}
        for line in text.splitlines():
            match = re.match(r"(platform_monitor_agent_\S+) (\S+)$", line)
            if match:
                out[match.group(1)] = float(match.group(2))
        return out

    def readyz(self) -> tuple[int, dict]:
        response = httpx.get(f"{self.url}/readyz", timeout=5)
        return response.status_code, response.json()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    t = HttpTarget()
    yield t
    t.close()


@pytest.fixture
def make_centre() -> Iterator[Callable[..., Centre]]:
    made: list[Centre] = []

    def make(checks: list[dict], **kwargs: object) -> Centre:
        centre = Centre(token=TOKEN, checks=checks, **kwargs).start()
        made.append(centre)
        return centre

    yield make
    for centre in made:
        centre.stop()


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    made: list[AgentProcess] = []

    def make(centre: Centre, *args: str, **kwargs: object) -> AgentProcess:
        directory = tmp_path / f"agent{len(made)}"
        directory.mkdir()
        agent = AgentProcess(centre, directory, *args, **kwargs)
        made.append(agent)
        return agent.start()

    yield make
    for agent in made:
        agent.close()
