"""Checks that share an interval and a phase slot share one APScheduler job: each still runs at
its phase, on its own, and leaves the schedule alone when it goes. Real Scheduler, real loop."""

from __future__ import annotations

import asyncio
import itertools
import time

from monitor.scheduler import Scheduler, phase, phase_slot
from probes.http import Check as HttpCheck

INTERVAL = 0.2  # seconds between runs of each check


def _check(name: str) -> HttpCheck:
    return HttpCheck(name=name, component="slots", url="http://127.0.0.1:9/", interval=INTERVAL)


def _slot_mates() -> tuple[HttpCheck, HttpCheck]:
    """Two checks whose ids fall in the same phase slot."""
    seen: dict[int, HttpCheck] = {}
    for i in itertools.count():
        check = _check(f"c{i}")
        mate = seen.setdefault(phase_slot(check.id), check)
        if mate is not check:
            return mate, check
    raise AssertionError("unreachable")


async def test_slot_mates_each_run_at_their_phase_and_leave_alone() -> None:
    first, second = _slot_mates()
    runs: dict[str, list[float]] = {}

    async def run(check_id: str) -> None:
        runs.setdefault(check_id, []).append(time.time())

    scheduler = Scheduler(run)
    scheduler.sync([first, second])
    assert scheduler.job_count == 2
    scheduler.start()
    try:
        await asyncio.sleep(1.0)
        scheduler.sync([second])  # the first goes; its slot-mate keeps its schedule
        gone_at = time.time()
        await asyncio.sleep(0.6)
    finally:
        await scheduler.stop(grace=1.0)

    assert len(runs[second.id]) >= 6, runs
    assert not [t for t in runs[first.id] if t > gone_at + 0.05], runs[first.id]
    for t in runs[second.id]:  # each run starts at a due instant of its own phase (a timer may fire ~1 ms early)
        late = (t - phase(second.id, INTERVAL)) % INTERVAL
        assert late < 0.1 or late > INTERVAL - 0.002, late
    assert scheduler.skipped == 0
