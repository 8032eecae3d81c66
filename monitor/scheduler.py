"""The scheduler: one APScheduler job per owned check, each at a fixed phase within its interval
(spread by a hash of the check id, stable across restarts and replicas), never overlapping
itself. Knows nothing of probes: it calls `run(check_id)` when a check is due. It keeps its own
account of due instants, so a stall shows as lag and as skipped runs (APScheduler merges them)."""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from probes.base import CheckBase

log = logging.getLogger(__name__)

LAG_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the scheduling-lag histogram: due time → run start."""
DUE_TOLERANCE = 0.001
"""Seconds: a due instant this close after `now` counts as due (APScheduler's datetimes carry
microseconds, our floats do not round the same way)."""


class Ownership(Protocol):
    """Which checks this process runs (monitor.leases.ShardOwnership: those of the shards it
    holds a lease on)."""

    def owns(self, check_id: str) -> bool: ...


class OwnsAll:
    """Every check: one process alone, and the scheduler's tests."""

    def owns(self, check_id: str) -> bool:
        return True


def phase(check_id: str, interval: float) -> float:
    """The check's fixed offset within its interval, from a hash of its id."""
    return (zlib.crc32(check_id.encode()) / 2**32) * interval


def first_run(check_id: str, interval: float, now: float) -> float:
    """The next instant after `now` at the check's phase (epoch-aligned)."""
    offset = phase(check_id, interval)
    n = math.floor((now - offset) / interval) + 1
    return offset + n * interval


@dataclass
class _Job:
    interval: float  # seconds
    next_due: float  # unix seconds: the oldest due instant no run has started for yet


class Scheduler:
    """Runs each check at its phase. Lag is measured from the oldest due instant not yet served
    (a run after a stall serves the first instant it missed), and every other due instant that
    passed without a run of its own (coalesced after a stall, misfired, skipped because the
    previous run was still going) counts once in `skipped`."""

    def __init__(self, run: Callable[[str], Awaitable[object]], ownership: Ownership | None = None) -> None:
        self._run = run
        self.ownership: Ownership = ownership or OwnsAll()
        self._aps = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        self._jobs: dict[str, _Job] = {}
        self.lag_buckets = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_sum = 0.0
        self.lag_count = 0
        self.skipped = 0
        self.on_lag: Callable[[float], None] | None = None
        self._running: set[asyncio.Task[object]] = set()
        self.in_flight: dict[str, int] = {}
        """Check id → its runs going now (a shard with one is not handed over yet)."""
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._aps.running

    @property
    def job_count(self) -> int:
        return len(self._jobs)

    def start(self) -> None:
        self._aps.start()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    async def stop(self, grace: float) -> None:
        """Stop starting runs, give the running ones `grace` seconds to finish (their results
        are kept), then cancel what is left."""
        if not self._aps.running:
            return
        self._stopping = True
        self._aps.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        self._aps.shutdown(wait=False)  # cancels runs still going after the grace period

    def sync(self, checks: Iterable[CheckBase]) -> None:
        """Make the jobs exactly the owned `checks`: add new ones, drop gone ones, re-time those
        whose interval changed. Unchanged checks keep their schedule."""
        wanted = {c.id: c for c in checks if self.ownership.owns(c.id)}
        for cid in [cid for cid in self._jobs if cid not in wanted]:
            self._aps.remove_job(cid)
            del self._jobs[cid]
        now = time.time()
        for cid, check in wanted.items():
            known = self._jobs.get(cid)
            if known is not None and known.interval == check.interval:
                continue
            start = first_run(cid, check.interval, now)
            trigger = IntervalTrigger(seconds=check.interval, start_date=datetime.fromtimestamp(start, UTC))
            self._aps.add_job(
                self._fire,
                trigger,
                args=[cid],
                id=cid,
                replace_existing=True,
                misfire_grace_time=max(1, int(check.interval)),
            )
            self._jobs[cid] = _Job(check.interval, start)

    async def _fire(self, check_id: str) -> None:
        job = self._jobs.get(check_id)
        if job is not None:
            self._account(job, time.time())
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        self.in_flight[check_id] = self.in_flight.get(check_id, 0) + 1
        try:
            await self._run(check_id)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.info("run of %s cancelled by shutdown", check_id)  # expected, not a job failure
        finally:
            self._running.discard(task)
            if self.in_flight[check_id] <= 1:
                del self.in_flight[check_id]
            else:
                self.in_flight[check_id] -= 1

    def _account(self, job: _Job, now: float) -> None:
        """This run serves the oldest unserved due instant: lag from there; the other due
        instants up to `now` had no run of their own: skipped."""
        due = now + DUE_TOLERANCE - job.next_due
        if due < 0:  # early (the clock stepped back): this run serves the next instant, on time
            lag, passed = 0.0, 1
        else:
            lag = max(0.0, now - job.next_due)
            passed = math.floor(due / job.interval) + 1  # due instants in [next_due, now]
        job.next_due += passed * job.interval
        self.skipped += max(0, passed - 1)
        self.lag_buckets[bisect.bisect_left(LAG_BUCKETS, lag)] += 1
        self.lag_sum += lag
        self.lag_count += 1
        if self.on_lag is not None:
            self.on_lag(lag)
