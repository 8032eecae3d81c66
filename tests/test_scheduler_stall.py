"""A stalled event loop is seen by the scheduler: lag is measured from the oldest due instant a run
serves (not modulo the interval), and every due instant that did not start its own run is counted
once as a skipped run. Real Scheduler, real asyncio loop, blocked by `time.sleep` on the loop."""

from __future__ import annotations

import asyncio
import math
import time

from monitor.scheduler import LAG_BUCKETS, Scheduler, first_run
from probes.http import Check as HttpCheck

INTERVAL = 0.2  # seconds between runs of each check
STALL = 2.0  # seconds the loop is blocked: ten intervals
CHECKS = 3


def dues_in(check_id: str, begin: float, end: float) -> int:
    """How many due instants of the check fall in [begin, end]."""
    first = first_run(check_id, INTERVAL, begin - INTERVAL)  # the first due instant >= begin (or just before)
    if first < begin:
        first += INTERVAL
    return 0 if first > end else math.floor((end - first) / INTERVAL) + 1


async def test_a_stall_shows_as_lag_and_counts_every_missed_run() -> None:
    runs: dict[str, list[float]] = {}

    async def run(check_id: str) -> None:
        runs.setdefault(check_id, []).append(time.time())

    checks = [HttpCheck(name=f"c{i}", component="stall", url="http://127.0.0.1:9/", interval=INTERVAL)
              for i in range(CHECKS)]
    scheduler = Scheduler(run)
    lags: list[float] = []
    scheduler.on_lag = lags.append
    scheduler.sync(checks)
    scheduler.start()
    try:
        await asyncio.sleep(1.0)  # every check ran a few times on time
        assert all(len(runs.get(c.id, [])) >= 3 for c in checks), runs
        calm_lag_count, calm_skipped = scheduler.lag_count, scheduler.skipped  # 0 unless the box hiccuped
        stall_start = time.time()
        time.sleep(STALL)  # noqa: ASYNC251 - the point: the loop is blocked, as a reload once blocked it
        stall_end = time.time()
        await asyncio.sleep(1.0)  # the scheduler catches up
    finally:
        await scheduler.stop(grace=1.0)

    # one coalesced run per check after the stall serves the oldest missed due instant
    late = [b for b, bound in zip(scheduler.lag_buckets, (*LAG_BUCKETS, math.inf), strict=True) if bound > 1.0]
    assert sum(late) >= CHECKS, scheduler.lag_buckets
    assert max(lags) >= STALL - INTERVAL, max(lags)  # the oldest due instant was one interval in at most
    assert scheduler.lag_count > calm_lag_count
    # each due instant inside the stall but the one that the catch-up run served is a skipped run
    expected = sum(dues_in(c.id, stall_start, stall_end) - 1 for c in checks)
    assert expected >= CHECKS * (STALL / INTERVAL - 2)
    skipped = scheduler.skipped - calm_skipped
    assert abs(skipped - expected) <= CHECKS, (skipped, expected)


async def test_a_run_longer_than_its_interval_counts_what_it_skipped() -> None:
    """max_instances=1: a run that overruns its interval skips the due instants it covers."""
    slow_for = 1.0  # seconds the first run takes: five intervals
    started: list[float] = []

    async def run(check_id: str) -> None:
        started.append(time.time())
        if len(started) == 1:
            await asyncio.sleep(slow_for)

    check = HttpCheck(name="slow", component="stall", url="http://127.0.0.1:9/", interval=INTERVAL)
    scheduler = Scheduler(run)
    lags: list[float] = []
    scheduler.on_lag = lags.append
    scheduler.sync([check])
    scheduler.start()
    try:
        await asyncio.sleep(slow_for + 1.0)
    finally:
        await scheduler.stop(grace=1.0)
    assert len(started) >= 3
    skipped_dues = dues_in(check.id, started[0] + 0.001, started[1] - 0.001)
    assert skipped_dues >= slow_for / INTERVAL - 2
    # every due instant between the first and the second start did not start a run of its own
    assert abs(scheduler.skipped - skipped_dues) <= 1, (scheduler.skipped, skipped_dues)
    assert max(lags) >= slow_for - 2 * INTERVAL
