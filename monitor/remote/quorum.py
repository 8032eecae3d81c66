"""One verdict from several locations: each location's latest result, the check's `quorum`, and
the rule of issue 12 (down when at least `quorum` locations see it down, degraded when some see it
down or degraded, unknown when fewer than `quorum` report). Pure: no I/O, no clock (`now` given)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from probes.base import CheckBase, Status

__all__ = ["FRESH_INTERVALS", "Seen", "location_of", "series_id", "verdict"]

FRESH_INTERVALS = 2
"""A location's latest result counts while it is at most this many intervals old: one late run is
a slow probe, two is a location that stopped reporting (the same bound as an agent's silence)."""
SEP = "@"


@dataclass(frozen=True, slots=True)
class Seen:
    """A location's latest result of a check."""

    status: Status
    time: float
    reason: str = ""


def series_id(check_id: str, location: str) -> str:
    """The id one location's results of a check run in several locations are stored under."""
    return f"{check_id}{SEP}{location}"


def location_of(series: str, check: CheckBase) -> str | None:
    """The location of a series id of `check`, or None if it is not one of its series."""
    head, sep, location = series.rpartition(SEP)
    return location if sep and head == check.id and location in check.sites else None


def _reported(check: CheckBase, seen: Seen | None, now: float) -> bool:
    return (seen is not None and seen.status != Status.UNKNOWN
            and now - seen.time <= FRESH_INTERVALS * check.interval + check.timeout)


def verdict(check: CheckBase, seen: Mapping[str, Seen | None], now: float,
            silent: Mapping[str, str] | None = None) -> tuple[Status, str]:
    """The check's status and reason from its locations' latest results. `silent`: location →
    why it does not report (an agent's silence), said in the reason instead of "no recent result"."""
    silent = silent or {}
    sites = check.sites
    reporting = {loc: seen[loc] for loc in sites if _reported(check, seen.get(loc), now)}
    down = [loc for loc in sites if loc in reporting and reporting[loc].status == Status.DOWN]
    degraded = [loc for loc in sites if loc in reporting and reporting[loc].status == Status.DEGRADED]
    need, total = check.needed, len(sites)

    def said(locations: list[str]) -> str:
        return "; ".join(f"{loc}: {reporting[loc].reason}" if reporting[loc].reason else loc for loc in locations)

    if len(reporting) < need:
        missing = []
        for loc in sites:
            if loc in reporting:
                continue
            last = seen.get(loc)
            if loc in silent:
                missing.append(f"{loc}: {silent[loc]}")
            elif last is None:
                missing.append(f"{loc}: no result yet")
            elif last.status == Status.UNKNOWN:
                missing.append(f"{loc}: unknown ({last.reason})" if last.reason else f"{loc}: unknown")
            else:
                missing.append(f"{loc}: no recent result")
        return Status.UNKNOWN, (f"only {len(reporting)} of {total} locations report (quorum {need}): "
                                + "; ".join(missing))
    if len(down) >= need:
        return Status.DOWN, f"down from {len(down)} of {total} locations (quorum {need}): {said(down)}"
    if down or degraded:
        parts = []
        if down:
            parts.append(f"down from {len(down)} of {total} locations (quorum {need}): {said(down)}")
        if degraded:
            parts.append(f"degraded from {said(degraded)}")
        return Status.DEGRADED, "; ".join(parts)
    return Status.UP, f"up from {', '.join(loc for loc in sites if loc in reporting)}"
