"""The latency chart's series from one check's history (raw results or rollups, as the backend
chose for the range): p50 and p95 per point, the slowest run, and points with failed runs.
Pure (no I/O); times are unix seconds, latencies seconds."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.records import CheckHistory

__all__ = ["RESOLUTION_NAMES", "LatencySeries", "latency_series"]

RESOLUTION_NAMES = {"raw": "raw results", "5m": "5-minute rollups", "1h": "hourly rollups", "1d": "daily rollups"}


@dataclass(slots=True)
class LatencySeries:
    """One check's latency over a range: per point start, the runs counted, the 50th and 95th
    percentiles and the maximum of their latency (None where nothing was measured); and its
    points with runs that were not up: (time, latency, state, runs in that state)."""

    check_id: str
    resolution: str
    step: float | None  # seconds per point; None: one point per raw result
    times: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p95: list[float | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    marked: list[tuple[float, float | None, str, int]] = field(default_factory=list)


def latency_series(history: CheckHistory) -> LatencySeries:
    """The chart's series of one check's history. A raw point's latency counts whatever its
    status (a timeout's latency is part of what users wait); a rollup's only up and degraded runs."""
    out = LatencySeries(history.check_id, history.resolution, history.step_seconds)
    for p in history.points:
        t = p.time.timestamp()
        raw = p.status is not None
        out.times.append(t)
        out.counts.append(p.runs)
        out.p50.append(p.latency if raw else p.latency_p50)
        out.p95.append(p.latency if raw else p.latency_p95)
        out.max.append(p.latency if raw else p.latency_max)
        for state in ("down", "degraded", "unknown"):
            runs = getattr(p, state)
            if runs:
                out.marked.append((t, p.latency if raw else p.latency_max, state, runs))
    return out
