"""Process-wide set-up that only the command line does (never a constructor): library log levels
and the heap freeze after start and after each applied config."""

from __future__ import annotations

import gc
import logging

GC_THRESHOLDS = (700, 10, 100)
"""CPython's (700, 10, 10) but for the last: a full collection is considered after 100 collections
of the middle generation instead of 10. Each check's last result lives one interval, long enough to
reach the oldest generation, so with tens of thousands of checks full collections came every few
seconds and took up to 1.3 s each (bench/engine.py, 50,000 checks, 2 workers: 23 s of 140 per
process). Young garbage, httpx's response cycles included, is still collected young."""


def configure_process() -> None:
    """Once per process, before the service starts. APScheduler logs each skipped or missed run
    at WARNING; the scheduler counts them instead (platform_monitor_scheduler_skipped_runs_total).
    The cyclic GC's thresholds: GC_THRESHOLDS."""
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_heap() -> None:
    """Move the long-lived objects (config, checks, state, scheduler jobs) out of the cyclic
    GC's reach: with 10,000 checks a full collection otherwise walks them all for ~200 ms,
    several times a minute, and shows up as scheduling lag. The service calls it through its
    `settle` hook after start and after each applied reload."""
    gc.collect()
    gc.freeze()
