"""State intervals from state changes, and what the UI derives from them: daily uptime, incidents.
Pure (no I/O, no clock): times are unix seconds, given by the caller."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["DayUptime", "Incident", "Interval", "daily_uptime", "incidents", "intervals", "utc_days"]

DAY = 86400.0  # seconds
NOT_UP = ("down", "degraded")
"""States that make an incident. `unknown` (the monitor cannot judge) does not: it is not the
target's failure (probes.base.Status)."""
SEVERITY = {"up": 0, "unknown": 1, "degraded": 2, "down": 3}


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in one state; `reason` is the one given when the state was entered."""

    start: float
    end: float
    state: str
    reason: str = ""


def intervals(
    changes: Iterable[tuple[float, str, str]],
    *,
    initial: tuple[str, str] | None,
    start: float,
    end: float,
) -> list[Interval]:
    """Cut [start, end) into state intervals. `changes` are (time, new state, reason) inside the
    range, oldest first; `initial` is (state, reason) at `start`, or None when nothing was known
    then (the time before the first change is then left out: no data)."""
    out: list[Interval] = []
    current = initial
    at = start
    for ts, state, reason in changes:
        ts = min(max(ts, start), end)
        if current is not None and ts > at:
            out.append(Interval(at, ts, current[0], current[1]))
        current, at = (state, reason), ts
    if current is not None and end > at:
        out.append(Interval(at, end, current[0], current[1]))
    return out


@dataclass(slots=True)
class DayUptime:
    """One UTC day: seconds spent in each state (`nodata` where nothing was known) and uptime,
    the share of known time that was not `down` (None when no time was known). `degraded`
    counts as up for uptime: the service answered, only slowly or partly."""

    date: str
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def uptime(self) -> float | None:
        known = sum(v for k, v in self.seconds.items() if k in SEVERITY and k != "unknown")
        if known <= 0:
            return None
        return 1.0 - self.seconds.get("down", 0.0) / known

    @property
    def worst(self) -> str:
        """The worst state seen during the day, or `nodata`."""
        seen = [s for s, v in self.seconds.items() if v > 0 and s in SEVERITY]
        return max(seen, key=SEVERITY.__getitem__) if seen else "nodata"

    def as_dict(self) -> dict[str, object]:
        uptime = self.uptime
        return {
            "date": self.date,
            "uptime": None if uptime is None else round(uptime, 6),
            "worst": self.worst,
            "seconds": {k: round(v, 3) for k, v in sorted(self.seconds.items()) if v > 0},
        }


def utc_days(now: float, days: int) -> list[tuple[str, float, float]]:
    """The last `days` UTC days up to and including today: (YYYY-MM-DD, start, end), oldest
    first; today ends at `now`."""
    today = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        begin = day.timestamp()
        out.append((day.date().isoformat(), begin, min(begin + DAY, now)))
    return out


def daily_uptime(spans: Sequence[Interval], *, now: float, days: int) -> list[DayUptime]:
    """Per UTC day of the last `days` (oldest first): seconds per state from `spans` (sorted,
    non-overlapping), the rest of each elapsed day counted as `nodata`."""
    out = []
    i = 0
    for date, begin, finish in utc_days(now, days):
        day = DayUptime(date)
        while i < len(spans) and spans[i].end <= begin:
            i += 1
        j = i
        while j < len(spans) and spans[j].start < finish:
            overlap = min(spans[j].end, finish) - max(spans[j].start, begin)
            if overlap > 0:
                day.seconds[spans[j].state] = day.seconds.get(spans[j].state, 0.0) + overlap
            j += 1
        known = sum(day.seconds.values())
        if finish - begin - known > 1e-6:
            day.seconds["nodata"] = finish - begin - known
        out.append(day)
    return out


@dataclass(slots=True)
class Incident:
    """A stretch during which a component was not up (down or degraded); `end` is None while it
    lasts. `checks` are the ids of its checks that were not up at some point during it."""

    component: str
    start: float
    end: float | None
    worst: str
    reason: str
    checks: list[str] = field(default_factory=list)


def incidents(component: str, spans: Sequence[Interval], *, ongoing_after: float) -> list[Incident]:
    """Merge consecutive not-up intervals of one component into incidents (oldest first). An
    incident whose last interval reaches `ongoing_after` (the range's end, when that is now)
    is ongoing."""
    out: list[Incident] = []
    current: Incident | None = None
    last_end = None
    for span in spans:
        if span.state in NOT_UP:
            if current is not None and last_end == span.start:
                if SEVERITY[span.state] > SEVERITY[current.worst]:
                    current.worst = span.state
            else:
                current = Incident(component, span.start, span.end, span.state, span.reason)
                out.append(current)
            current.end = span.end
            last_end = span.end
        else:
            current = None
    for incident in out:
        if incident.end is not None and incident.end >= ongoing_after:
            incident.end = None
    return out


def overlaps(spans: Iterable[Interval], start: float, end: float | None, states: Iterable[str]) -> bool:
    """Whether any interval in one of `states` overlaps [start, end) (end None: open)."""
    wanted = set(states)
    return any(
        s.state in wanted and s.end > start and (end is None or s.start < end) for s in spans
    )
