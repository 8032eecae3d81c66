"""Latency percentiles per time bucket from raw results: what the latency chart draws. Pure (no
I/O); times are unix seconds, latencies seconds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["BUCKET_STEPS", "LatencySeries", "bucket_seconds", "latency_series", "percentile"]

BUCKET_STEPS = (10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
"""Bucket widths (seconds) the chart may use: round numbers a reader can take in at a glance."""
TARGET_BUCKETS = 150  # at most this many buckets across a chart: finer is noise at chart width
MARKED_RUNS_MAX = 2000  # failed runs drawn one by one, at most (the newest)
PERCENTILES = (5, 50, 95, 99)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, linearly interpolated between ranks."""
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def bucket_seconds(span: float, *, min_step: float = 0.0) -> int:
    """The smallest step from BUCKET_STEPS giving at most TARGET_BUCKETS buckets over `span`
    seconds and no less than `min_step` (a check's interval: finer buckets hold one run each)."""
    for step in BUCKET_STEPS:
        if step >= min_step and span / step <= TARGET_BUCKETS:
            return step
    return BUCKET_STEPS[-1]


@dataclass(slots=True)
class LatencySeries:
    """One check's latency over a range: per bucket start, the runs counted and the 5th, 50th,
    95th and 99th percentiles of their latency (None for an empty bucket); and its runs that
    were not up, one by one: (time, latency, status)."""

    check_id: str
    step: int
    times: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    p: dict[int, list[float | None]] = field(default_factory=lambda: {q: [] for q in PERCENTILES})
    marked: list[tuple[float, float | None, str]] = field(default_factory=list)
    truncated: bool = False
    """True when only the newest results of the range were read (a cap on raw rows)."""


def latency_series(
    check_id: str,
    runs: Iterable[tuple[float, float | None, str]],
    *,
    start: float,
    end: float,
    min_step: float = 0.0,
    truncated: bool = False,
) -> LatencySeries:
    """Bucket `runs` (time, latency or None, status) over [start, end). Percentiles count runs
    with a latency, whatever their status: a timeout's latency is part of what users wait."""
    step = bucket_seconds(end - start, min_step=min_step)
    first = math.floor(start / step) * step
    n = max(1, math.ceil((end - first) / step))
    values: list[list[float]] = [[] for _ in range(n)]
    out = LatencySeries(check_id, step, truncated=truncated)
    for ts, latency, status in runs:
        if not start <= ts < end:
            continue
        if latency is not None:
            values[min(int((ts - first) // step), n - 1)].append(latency)
        if status != "up":
            out.marked.append((ts, latency, status))
    out.marked.sort()
    out.marked = out.marked[-MARKED_RUNS_MAX:]
    for i, bucket in enumerate(values):
        bucket.sort()
        out.times.append(first + i * step)
        out.counts.append(len(bucket))
        for q in PERCENTILES:
            out.p[q].append(percentile(bucket, q) if bucket else None)
    return out
