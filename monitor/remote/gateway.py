"""The centre's door for agents: who is knocking (a token compared in constant time, failures
rate-limited per address), what each location runs (its assignment and version, long-polled), and
taking a pushed batch (every result assigned to the agent's location, or nothing) into storage. No
HTTP here: monitor.api.agents maps requests and answers onto it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.remote.config import AgentConfig
from monitor.remote.quorum import series_id
from probes.base import CENTRAL, CheckBase
from storage import agents as agent_store
from storage.models import ID_LENGTH, REASON_LENGTH

__all__ = ["AUTH_WINDOW", "Gateway", "Push", "Refused"]

MAX_BODY_BYTES = 4 * 1024 * 1024  # a pushed batch: 5,000 results of ~800 bytes fit well inside
MAX_RESULTS = 5000  # results in one batch
MAX_WAIT = 60.0  # seconds a long poll may be held
PUSH_INTERVAL = 1.0  # seconds between an agent's pushes while results wait (docs/agents.md)
HEARTBEAT_INTERVAL = 5.0  # seconds between its pushes at the least, results or not
BATCH_MAX = 1000  # results an agent puts in one batch
AUTH_WINDOW = 60.0  # seconds over which failed authentications from one address are counted
AUTH_FAILURES_ALLOWED = 20  # failures from one address in AUTH_WINDOW before it gets 429
FUTURE_TOLERANCE = 300.0
"""Seconds ahead of the centre's clock a result's (corrected) time may be: beyond it the agent's
clock correction failed, and the result would stand in front of every real one."""
LATE_FOR_ROLLUPS = 240.0
"""A result older than this when it arrives may fall in a bucket the rollups passed already (they
recompute the last 5 minutes each run): its hours are recomputed on the leader's next run."""


class PushedResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    check: str = Field(min_length=1, max_length=ID_LENGTH)
    time: float = Field(gt=0)
    status: Literal["up", "degraded", "down", "unknown"]
    latency: float | None = Field(default=None, ge=0)
    reason: str = Field(default="", max_length=20 * REASON_LENGTH)
    details: dict[str, Any] | None = None


class Push(BaseModel):
    """The body of POST /api/v1/agent/results (docs/agents.md)."""

    model_config = ConfigDict(extra="ignore")

    sent_at: float | None = None
    clock_offset: float | None = None
    config_version: str | None = Field(default=None, max_length=64)
    agent_version: str | None = Field(default=None, max_length=40)
    buffered: int | None = Field(default=None, ge=0)
    dropped: int | None = Field(default=None, ge=0)
    results: list[PushedResult] = Field(default_factory=list)


class Refused(Exception):
    """Results of the batch the agent may not push: check id → why."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused
        super().__init__(f"{len(refused)} checks refused")


@dataclass
class GatewayStats:
    """Counters since start, for the metrics collector (memory only)."""

    auth_failures: dict[str, int] = field(default_factory=dict)  # reason → count
    results: dict[str, int] = field(default_factory=dict)  # agent → new results accepted
    repeats: dict[str, int] = field(default_factory=dict)  # agent → repeated results skipped
    refused: dict[tuple[str, str], int] = field(default_factory=dict)  # (agent, reason) → results refused
    pushes: dict[tuple[str, str], int] = field(default_factory=dict)  # (agent, outcome) → requests


class Gateway:
    """`config()`: the config in force; `checks()`: every check the engine knows now (discovered
    ones included); `shard(check_id)`: the shard of a check (its holder takes the pushed results)."""

    def __init__(self, *, db: DbEngine, config: Callable[[], Any], checks: Callable[[], dict[str, CheckBase]],
                 shard: Callable[[str], int], clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._config = config
        self._checks = checks
        self._shard = shard
        self.clock = clock
        self.stats = GatewayStats()
        self._failures: dict[str, deque[float]] = {}
        self._assignments: tuple[object, dict[str, tuple[str, dict[str, Any]]]] = (None, {})
        self._changed = asyncio.Event()

    # -- who is knocking -----------------------------------------------------------------------
    def authenticate(self, authorization: str) -> AgentConfig | None:
        """The agent whose token `authorization` (`Bearer <token>`) carries, or None. The same work
        whatever is presented: the digest is compared with every agent's, without stopping early."""
        scheme, _, token = authorization.partition(" ")
        presented = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).digest()
        found = None
        for agent in self._config().agents:
            if agent.accepts(presented) and scheme.lower() == "bearer" and token.strip():
                found = agent
        return found

    def blocked_for(self, address: str) -> float:
        """Seconds until `address` may try again (0: it may now)."""
        now = self.clock()
        failures = self._failures.get(address)
        if failures is None:
            return 0.0
        while failures and failures[0] <= now - AUTH_WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return 0.0
        if len(failures) < AUTH_FAILURES_ALLOWED:
            return 0.0
        return max(1.0, failures[0] + AUTH_WINDOW - now)

    def failed(self, address: str, reason: str) -> None:
        self.stats.auth_failures[reason] = self.stats.auth_failures.get(reason, 0) + 1
        if len(self._failures) > 10_000:  # a flood from many addresses: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque()).append(self.clock())

    # -- what each location runs ---------------------------------------------------------------
    def assignment(self, agent: AgentConfig) -> tuple[str, dict[str, Any]]:
        """(version, body) of what `agent` runs, built once per config."""
        config = self._config()
        source, built = self._assignments
        if source is not config:
            built = {}
            self._assignments = (config, built)
        if agent.name not in built:
            built[agent.name] = _assignment(config, agent)
        return built[agent.name]

    def config_changed(self) -> None:
        """A new config is in force: wake the long polls (their agents fetch the new assignment)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, agent: AgentConfig, version: str, wait: float) -> bool:
        """Hold until `agent`'s assignment is not `version` any more (True) or `wait` passes (False)."""
        deadline = self.clock() + min(max(wait, 0.0), MAX_WAIT)
        while self.assignment(agent)[0] == version:
            left = deadline - self.clock()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return self.assignment(agent)[0] != version
        return True

    async def touch(self, agent: AgentConfig, address: str, config_version: str | None = None) -> None:
        """Record a poll (the agent is alive) in storage."""
        contact = agent_store.Contact(agent.name, address, config_version=config_version)

        def write() -> None:
            with Session(self.db) as session, session.begin():
                agent_store.touch(session, contact, now=self.clock())

        await asyncio.to_thread(write)

    # -- a pushed batch ------------------------------------------------------------------------
    def sort(self, agent: AgentConfig, push: Push) -> tuple[list[agent_store.Pushed], dict[str, str]]:
        """The batch's results as stored rows, and the checks refused (id → why)."""
        checks = self._checks()
        clusters = [c.name for c in self._config().clusters if c.location == agent.name]
        now = self.clock()
        rows, refused = [], {}
        for r in push.results:
            check = checks.get(r.check)
            if check is not None and agent.name in check.sites:
                series = r.check if len(check.sites) == 1 else series_id(r.check, agent.name)
            elif check is None and any(r.check.startswith(f"{name}/") for name in clusters):
                series = r.check  # a check the agent's cluster discovery found, not known here yet
            else:
                where = "not a check of this service" if check is None else (
                    "runs at " + ", ".join(check.sites) if check.sites != (CENTRAL,) else "runs at the centre")
                refused[r.check] = f"not assigned to location {agent.name} ({where})"
                continue
            if not math.isfinite(r.time) or r.time > now + FUTURE_TOLERANCE:
                refused[r.check] = (f"time {r.time} is more than {FUTURE_TOLERANCE:.0f}s ahead of the centre's "
                                    "clock (the agent's clock correction failed)")
                continue
            rows.append(agent_store.Pushed(
                series=series, check_id=r.check, location=agent.name, shard=self._shard(r.check),
                ts_ms=round(r.time * 1000), status=r.status,
                latency=None if r.latency is None else round(r.latency, 6), reason=r.reason, details=r.details))
        return rows, refused

    async def push(self, agent: AgentConfig, push: Push, address: str) -> tuple[int, int]:
        """Store a batch, all or nothing: (new results, repeats). Raises Refused when any result
        is for a check not assigned to the agent's location (nothing stored then)."""
        rows, refused = self.sort(agent, push)
        if refused:
            self._count(self.stats.pushes, (agent.name, "refused"))
            for reason in refused.values():
                key = (agent.name, "future" if "ahead" in reason else "not_assigned")
                self._count(self.stats.refused, key)
            raise Refused(refused)
        contact = agent_store.Contact(agent.name, address, push.clock_offset, push.buffered, push.dropped,
                                      push.agent_version or "", push.config_version or "")
        now = self.clock()

        def write() -> tuple[int, int]:
            with Session(self.db) as session, session.begin():
                new, repeats = agent_store.store_push(session, rows=rows, contact=contact, now=now)
                earliest = min((r.ts_ms for r in rows), default=None)
                if new and earliest is not None and earliest / 1000 < now - LATE_FOR_ROLLUPS:
                    agent_store.request_rollups(session, earliest=earliest / 1000, now=now)
                return new, repeats

        new, repeats = await asyncio.to_thread(write)
        self._count(self.stats.pushes, (agent.name, "accepted"))
        self.stats.results[agent.name] = self.stats.results.get(agent.name, 0) + new
        self.stats.repeats[agent.name] = self.stats.repeats.get(agent.name, 0) + repeats
        return new, repeats

    async def discovered(self, agent: AgentConfig, source: str, checks: list[dict[str, Any]]) -> int:
        """Store what the agent's discovery of one of its clusters found. Raises Refused for a
        source that is not a cluster at its location."""
        clusters = {c.name for c in self._config().clusters if c.location == agent.name}
        kind, _, rest = source.partition(":")
        cluster = rest.partition(":")[0]
        if kind != "cluster" or cluster not in clusters:
            raise Refused({source: f"not a cluster at location {agent.name}"})
        outside = [c.get("component", "") for c in checks if not str(c.get("component", "")).startswith(f"{cluster}/")]
        if outside:
            raise Refused({source: f"a check of component {outside[0]!r} is not under cluster {cluster}"})
        now = self.clock()

        def write() -> None:
            with Session(self.db) as session, session.begin():
                agent_store.store_discovered(session, agent=agent.name, source=source, checks=checks, now=now)

        await asyncio.to_thread(write)
        return len(checks)

    @staticmethod
    def _count(counter: dict, key: Any) -> None:
        counter[key] = counter.get(key, 0) + 1


AGENT_FIELDS = frozenset({"location", "locations", "quorum", "depends_on"})
"""Check settings an agent is not sent: where the check runs is the centre's business, and an
agent does not alert (dependencies only cover alerts)."""


def _assignment(config: Any, agent: AgentConfig) -> tuple[str, dict[str, Any]]:
    checks = [c.model_dump(mode="json", exclude=set(AGENT_FIELDS)) for c in config.checks if agent.name in c.sites]
    clusters = [c.model_dump(mode="json", exclude={"location"}) for c in config.clusters if c.location == agent.name]
    settings = {"push_interval": PUSH_INTERVAL, "heartbeat_interval": HEARTBEAT_INTERVAL, "batch_max": BATCH_MAX,
                "buffer": agent.buffer, "max_clock_skew": agent.max_clock_skew}
    body = {"agent": agent.name, "settings": settings, "checks": checks, "clusters": clusters}
    version = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return version, {**body, "version": version, "centre_version": __version__}
