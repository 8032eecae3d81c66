"""Heartbeat pings on their way in: the token → check lookup (by hash, constant time), the
per-token rate limit, storing the ping, running the check at once, and the ping counters. The
judging is the probe's (probes/heartbeat.py); the HTTP route is monitor/api/pings.py."""

from __future__ import annotations

import asyncio
import codecs
import enum
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, Metric
from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from probes.base import CheckBase
from probes.heartbeat import Check as HeartbeatCheck
from probes.heartbeat import Ping, PingKind, PingReader
from storage import heartbeats as store

log = logging.getLogger(__name__)

__all__ = ["BODY_BYTES", "Heartbeats", "Outcome", "PingCollector", "TokenBucket", "ping_body", "ping_reader"]

BODY_BYTES = 10 * 1024
"""Bytes of a ping's body kept (as text): a log tail, enough to say why a job failed."""
PING_BURST = 10
"""Pings a token may send at once: a run sends two (start, finish), curl --retry a few more."""
PING_REFILL_SECONDS = 6.0
"""One more ping allowed every 6 s (10 a minute): cron runs a job at most once a minute; faster
is a loop gone wrong or someone else's traffic, and each ping is a database write."""
_NO_MATCH = hashlib.sha256(b"platform-monitor: no heartbeat token").digest()


class Outcome(enum.StrEnum):
    """What became of a ping (the `outcome` label of the ping counter)."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    NOT_STORED = "not_stored"


@dataclass(slots=True)
class TokenBucket:
    """`burst` pings at once, then one per `refill` seconds. Times come from the caller."""

    burst: int
    refill: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 when a ping may pass (and count it), else the seconds until one may."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) / self.refill)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * self.refill


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def ping_body(raw: bytes) -> str:
    """The first BODY_BYTES of a body as text: UTF-8 (bad bytes replaced, a character cut at
    the limit dropped), NUL replaced (PostgreSQL's text cannot hold it)."""
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(raw[:BODY_BYTES], final=False)
    return text.replace("\x00", "\ufffd")


def ping_reader(db: DbEngine) -> PingReader:
    """The probe's narrow view of storage: a check's newest pings, read on a thread."""

    def read(check_id: str, limit: int) -> list[Ping]:
        with Session(db) as session:
            rows = store.recent_pings(session, check_id=check_id, limit=limit)
        return [Ping(r.id, r.ts_ms / 1000, r.kind, r.exit_status, r.body) for r in rows]  # type: ignore[arg-type]

    async def reader(check_id: str, limit: int) -> list[Ping]:
        return await asyncio.to_thread(read, check_id, limit)

    return reader


class Heartbeats:
    """Receives pings for the engine's heartbeat checks. The token index follows the engine's
    checks (rebuilt when a reload or discovery replaces them)."""

    def __init__(self, *, checks: Callable[[], Mapping[str, CheckBase]],
                 run: Callable[[CheckBase], Awaitable[object]], db: DbEngine) -> None:
        self.checks = checks
        """The checks in force now (config and discovered)."""
        self._run = run
        self.db = db
        self.clock = time.time
        self._index: dict[bytes, tuple[str, bytes]] = {}
        self._indexed: Mapping[str, CheckBase] | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._runs: set[asyncio.Task[object]] = set()
        self.pings: dict[tuple[str, str, str], int] = {}
        """(check id, ping kind, outcome) → count, for the metrics."""
        self.unknown = 0
        """Pings whose token matched no check."""

    def find(self, token: str) -> HeartbeatCheck | None:
        """The check whose token this is. The index is keyed by the token's SHA-256, so the
        lookup costs the same whatever a wrong token shares with a right one; the digests are
        compared once more with compare_digest."""
        digest = token_digest(token)
        entry = self._tokens().get(digest)
        if not hmac.compare_digest(entry[1] if entry is not None else _NO_MATCH, digest) or entry is None:
            self.unknown += 1
            return None
        check = self.checks().get(entry[0])
        return check if isinstance(check, HeartbeatCheck) else None

    def _tokens(self) -> dict[bytes, tuple[str, bytes]]:
        checks = self.checks()
        if checks is not self._indexed:
            index: dict[bytes, tuple[str, bytes]] = {}
            clashes: set[bytes] = set()
            for check in checks.values():
                if isinstance(check, HeartbeatCheck):
                    digest = token_digest(check.token)
                    if digest in index:
                        clashes.add(digest)
                        log.error("heartbeat checks %s and %s share a token: pings to it are refused",
                                  index[digest][0], check.id)
                    index[digest] = (check.id, digest)
            self._index = {d: entry for d, entry in index.items() if d not in clashes}
            self._indexed = checks
            self._buckets = {cid: b for cid, b in self._buckets.items() if cid in checks}
        return self._index

    def admit(self, check: HeartbeatCheck, kind: PingKind) -> float:
        """0 when the check's rate limit lets this ping pass, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(check.id)
        if bucket is None:
            bucket = self._buckets[check.id] = TokenBucket(PING_BURST, PING_REFILL_SECONDS, PING_BURST, now)
        wait = bucket.take(now)
        if wait:
            self._count(check, kind, Outcome.RATE_LIMITED)
        return wait

    async def receive(self, check: HeartbeatCheck, kind: PingKind, exit_status: int | None, body: str) -> bool:
        """Store the ping, then run the check at once (in the background) so its state moves
        without waiting for its next turn. False when the ping could not be stored."""
        now = self.clock()

        def write() -> None:
            with Session(self.db) as session, session.begin():
                store.add_ping(session, check_id=check.id, ts=now, kind=kind, exit_status=exit_status, body=body)

        try:
            await asyncio.to_thread(write)
        except Exception as exc:
            log.error("heartbeat %s: ping not stored (%s)", check.id,
                      f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            self._count(check, kind, Outcome.NOT_STORED)
            return False
        self._count(check, kind, Outcome.ACCEPTED)
        task = asyncio.create_task(self._run(check), name=f"heartbeat {check.id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return True

    def _count(self, check: CheckBase, kind: str, outcome: Outcome) -> None:
        key = (check.id, kind, outcome.value)
        self.pings[key] = self.pings.get(key, 0) + 1

    async def stop(self) -> None:
        """Let the runs pings started finish."""
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=5.0)


class PingCollector:
    """platform_monitor_heartbeat_pings_total{check, kind, outcome} and the unknown-token count,
    from memory (this process's pings; Prometheus sums the processes)."""

    def __init__(self, heartbeats: Heartbeats) -> None:
        self.heartbeats = heartbeats

    def collect(self) -> Iterator[Metric]:
        pings = CounterMetricFamily("platform_monitor_heartbeat_pings", "Heartbeat pings received, by outcome.",
                                    labels=["check", "kind", "outcome"])
        checks = self.heartbeats.checks()
        for (cid, kind, outcome), count in sorted(self.heartbeats.pings.items()):
            if cid in checks:  # a retired check's series vanish with it
                pings.add_metric([cid, kind, outcome], count)
        yield pings
        yield CounterMetricFamily("platform_monitor_heartbeat_unknown_pings",
                                  "Pings whose token matched no heartbeat check (answered 404).",
                                  value=self.heartbeats.unknown)


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
