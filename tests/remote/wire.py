"""Speaking docs/agents.md to a real centre, as an agent does (the agent process itself is tested
in tests/agent; these tests need exact control of what is sent and when)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.scaleout.harness import Replica

PROD_TOKEN = "prod-dc-token-0123456789"
TEST_TOKEN = "test-dc-token-9876543210"


def centre_config(path: Path, *, db: str, hook_port: int, checks: str, interval: float = 1.0,
                  extra: str = "") -> Path:
    """A centre with two agents (prod-dc by token, test-dc by the token's SHA-256) and `checks`;
    `db`: a database URL, or the path of a SQLite file."""
    import hashlib

    digest = hashlib.sha256(TEST_TOKEN.encode()).hexdigest()
    path.write_text(f"""
storage: {{url: "{db if '://' in db else 'sqlite:///' + db}", flush_interval: 200ms}}
engine: {{replica_id: "${{PM_REPLICA}}"}}
defaults: {{interval: {interval}s, timeout: 500ms, failure_threshold: 1}}
agents:
  - {{name: prod-dc, token: "{PROD_TOKEN}"}}
  - {{name: test-dc, token_sha256: "{digest}"}}
checks:
{checks}
alerts:
  repeat_interval: 0s
  group_wait: 0s
  subjects: [check]
  receivers:
    - {{name: hook, kind: webhook, url: "http://127.0.0.1:{hook_port}/", secret: "${{HOOK_SECRET}}"}}
{extra}
""")
    return path


class Wire:
    """One agent's side of the protocol."""

    def __init__(self, centre: Replica, token: str) -> None:
        self.centre = centre
        self.headers = {"Authorization": f"Bearer {token}"}

    def checks(self, *, version: str | None = None, wait: float = 0.0) -> httpx.Response:
        headers = dict(self.headers)
        if version:
            headers["If-None-Match"] = f'"{version}"'
        return httpx.get(f"{self.centre.url}/api/v1/agent/checks", params={"wait": wait}, headers=headers,
                         timeout=wait + 10)

    def push(self, results: list[dict], **extra: object) -> httpx.Response:
        body = {"sent_at": time.time(), "clock_offset": 0.0, "buffered": 0, "dropped": 0, **extra,
                "results": results}
        return httpx.post(f"{self.centre.url}/api/v1/agent/results", json=body, headers=self.headers, timeout=10)


class Balanced:
    """Several centre processes behind one address, as a load balancer shows them: each push goes
    to the next one, and to the one after it when that does not answer."""

    def __init__(self, wires: list[Wire]) -> None:
        self.wires = wires
        self.turn = 0

    def push(self, results: list[dict], **extra: object) -> httpx.Response:
        for _ in range(len(self.wires)):
            wire = self.wires[self.turn % len(self.wires)]
            self.turn += 1
            try:
                return wire.push(results, **extra)
            except httpx.HTTPError:
                continue
        raise httpx.ConnectError("no centre process answers")


def result(check: str, at: float, status: str = "up", reason: str = "", latency: float | None = 0.01) -> dict:
    return {"check": check, "time": round(at, 3), "status": status, "latency": latency, "reason": reason,
            "details": None}


class Pusher:
    """An agent's rhythm without its process: every `interval`, one result per check with the
    status `statuses` says; while `held`, results are kept (a buffer) and sent, in order, on release."""

    def __init__(self, wire: Wire, checks: list[str], *, interval: float = 0.5) -> None:
        import threading

        self.wire = wire
        self.checks = checks
        self.interval = interval
        self.statuses: dict[str, tuple[str, str]] = {c: ("up", "") for c in checks}
        self.held = False
        self.silent = False  # neither probing nor sending (the agent is gone)
        self.buffer: list[dict] = []
        self.sent: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Pusher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.silent:
                continue
            now = time.time()
            self.buffer.extend(result(c, now, *self.statuses[c]) for c in self.checks)
            if self.held:
                continue
            try:
                answer = self.wire.push(self.buffer)
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                self.sent.extend(self.buffer)
                self.buffer = []

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
