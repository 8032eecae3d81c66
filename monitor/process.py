"""Process-wide set-up that only the command line does (never a constructor): library log levels
and the heap freeze after start and after each applied config."""

from __future__ import annotations

import gc
import logging


def configure_process() -> None:
    """Once per process, before the service starts. APScheduler logs each skipped or missed run
    at WARNING; the scheduler counts them instead (platform_monitor_scheduler_skipped_runs_total)."""
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)


def freeze_heap() -> None:
    """Move the long-lived objects (config, checks, state, scheduler jobs) out of the cyclic
    GC's reach: with 10,000 checks a full collection otherwise walks them all for ~200 ms,
    several times a minute, and shows up as scheduling lag. The service calls it through its
    `settle` hook after start and after each applied reload."""
    gc.collect()
    gc.freeze()
