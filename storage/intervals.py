"""State intervals in milliseconds: from changes to [start, end) spans, time per state with
maintenance left out, incidents (maximal runs of not-up spans), per-day splits. Pure: no I/O.

Time a subject did not exist (before it was first configured) has no span at all: it is "no
data", neither `unknown` nor measured, so figures simply never see it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "NOT_UP",
    "Incident",
    "PieceFigures",
    "Span",
    "StateTimes",
    "cut_at",
    "incidents_of",
    "merge_spans",
    "overlap",
    "piece_figures",
    "spans_from",
    "split",
]

NOT_UP = frozenset({"degraded", "down"})
"""States that make an incident. `unknown` (no judgement possible) ends one and is not counted
as down time: it is left out of the measured time instead."""
SEVERITY = {"up": 0, "unknown": 1, "degraded": 2, "down": 3}


@dataclass(slots=True)
class Span:
    """One state over [start, end) (ms), with the time and reason of the change that began it
    (`since` may be before `start` when the span was clipped to a window)."""

    start: int
    end: int
    state: str
    since: int | None = None
    reason: str = ""


def spans_from(
    initial: tuple[str, int | None, str] | None,
    changes: Iterable[tuple[int, str, str]],
    start: int,
    end: int,
    *,
    origin: int | None = None,
) -> list[Span]:
    """The spans covering [start, end) from when the subject existed: `initial` is (state,
    since, reason) at `start`, `changes` are (ts, new state, reason) after `start`, in time order.
    `initial` None: nothing was recorded by `start`; then the subject has no span (no data, not
    `unknown`) before `origin`, when it came to exist (None: its first change), and is `unknown`
    from `origin` to its first change (configured, no judgement yet). A change before `origin`
    wins: recorded history shows the subject existed. Consecutive spans always differ in state."""
    if initial is not None:
        spans = [Span(start, end, *initial)]
    elif origin is not None and origin < end:
        spans = [Span(max(start, origin), end, "unknown", None, "")]
    else:
        spans = []
    last = spans[-1] if spans else None  # the open span (hot: a quarter of changes per call)
    append = spans.append
    for ts, new, why in changes:
        if ts >= end:
            break
        if ts <= start:  # a change at `start` itself is already in `initial`
            continue
        if last is not None:
            if last.start >= ts:  # an origin at or after the first recorded change
                spans.pop()
                last = spans[-1] if spans else None
            if last is not None:
                if new == last.state:
                    continue
                last.end = ts
        last = Span(ts, end, new, ts, why)
        append(last)
    return spans


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of [start, end) ranges, sorted and disjoint."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def overlap(start: int, end: int, merged: Sequence[tuple[int, int]]) -> int:
    """How much of [start, end) the merged ranges cover (ms)."""
    total = 0
    for a, b in merged:
        if b <= start:
            continue
        if a >= end:
            break
        total += min(b, end) - max(a, start)
    return total


@dataclass(slots=True)
class StateTimes:
    """Milliseconds per state in a window, maintenance time counted apart (and not per state)."""

    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITY, 0))
    maintenance: int = 0

    @classmethod
    def of(cls, spans: Iterable[Span], maintenance: Sequence[tuple[int, int]]) -> StateTimes:
        out = cls()
        by_state = out.by_state
        if not maintenance:
            for span in spans:
                by_state[span.state] = by_state.get(span.state, 0) + span.end - span.start
            return out
        for span in spans:
            covered = overlap(span.start, span.end, maintenance)
            out.maintenance += covered
            by_state[span.state] = by_state.get(span.state, 0) + (span.end - span.start - covered)
        return out

    def add(self, other: StateTimes) -> None:
        for state, ms in other.by_state.items():
            self.by_state[state] = self.by_state.get(state, 0) + ms
        self.maintenance += other.maintenance

    @property
    def measured(self) -> int:
        """Time with a judgement (up, degraded or down), outside maintenance."""
        return self.by_state["up"] + self.by_state["degraded"] + self.by_state["down"]

    @property
    def availability(self) -> float | None:
        """Percent of the measured time not down (degraded counts as available), None if none."""
        measured = self.measured
        return 100.0 * (measured - self.by_state["down"]) / measured if measured else None

    def error_budget(self, slo: float) -> tuple[float, float | None]:
        """(allowed downtime in ms, fraction of it left) for an SLO in percent over the measured
        time: 1 untouched, 0 spent, negative overspent; None when nothing was measured."""
        allowed = (1.0 - slo / 100.0) * self.measured
        if allowed <= 0:
            return 0.0, None
        return allowed, (allowed - self.by_state["down"]) / allowed

    def worst(self) -> str | None:
        """The worst known state that lasted any time outside maintenance (as a component's
        status is the worst known one); `unknown` only when nothing else was seen; None when no
        span lasted (no data: the subject did not exist then, or all was maintenance)."""
        seen = [s for s, ms in self.by_state.items() if ms > 0]
        known = [s for s in seen if s != "unknown"]
        if not seen:
            return None
        return max(known, key=SEVERITY.__getitem__) if known else "unknown"


@dataclass(slots=True)
class Incident:
    """A maximal run of not-up spans: [start, end), the worst state reached."""

    start: int
    end: int
    worst: str
    spans: list[Span] = field(default_factory=list)


def incidents_of(spans: Iterable[Span]) -> list[Incident]:
    """Group consecutive degraded/down spans into incidents."""
    out: list[Incident] = []
    current: Incident | None = None
    for span in spans:
        if span.state in NOT_UP:
            if current is None or current.end != span.start:
                current = Incident(span.start, span.end, span.state)
                out.append(current)
            current.end = span.end
            if SEVERITY[span.state] > SEVERITY[current.worst]:
                current.worst = span.state
            current.spans.append(span)
        else:
            current = None
    return out


def cut_at(spans: list[Span], end: int | None) -> list[Span]:
    """Spans cut at `end` (a check's retirement: after it the check has no state at all)."""
    if end is None:
        return spans
    out = [s for s in spans if s.start < end]
    if out and out[-1].end > end:
        last = out[-1]
        out[-1] = Span(last.start, end, last.state, last.since, last.reason)
    return out


_COLUMN = {"up": 0, "degraded": 1, "down": 2, "unknown": 3}


@dataclass(slots=True)
class PieceFigures:
    """Per piece (day): ms up/degraded/down/unknown outside maintenance, ms in maintenance, and
    incidents (not wholly in maintenance) overlapping it. Lists, not objects: an overview has
    a hundred components of ninety days."""

    up: list[int]
    degraded: list[int]
    down: list[int]
    unknown: list[int]
    maintenance: list[int]
    incidents: list[int]

    def availability(self, i: int) -> float | None:
        measured = self.up[i] + self.degraded[i] + self.down[i]
        return 100.0 * (measured - self.down[i]) / measured if measured else None

    def worst(self, i: int) -> str | None:
        """As StateTimes.worst: the worst known state that lasted, else unknown, else None (no
        data: no span in the piece, as before the subject existed)."""
        for state, ms in (("down", self.down[i]), ("degraded", self.degraded[i]), ("up", self.up[i]),
                          ("unknown", self.unknown[i])):
            if ms > 0:
                return state
        return None


def piece_figures(spans: Sequence[Span], edges: Sequence[int], maintenance: Sequence[tuple[int, int]]
                  ) -> PieceFigures:
    """Time per state and incidents of each [edges[i], edges[i+1]) piece, in one pass over the
    (contiguous, time-ordered) spans. The overview runs it for a hundred components' quarter
    (~35,000 spans): the pieces an incident touches are the ones its spans walked through, so
    no search per incident, and nothing is asked of maintenance where there is none."""
    n = len(edges) - 1
    acc = [[0] * n for _ in range(5)]  # up, degraded, down, unknown, maintenance
    in_maintenance = acc[4]
    incidents = [0] * n
    column_of = _COLUMN

    def close(start: int, end: int, first: int, last: int) -> None:
        """An incident over [start, end) touching pieces [first, last), unless all maintenance."""
        if maintenance and end - start <= overlap(start, end, maintenance):
            return
        for k in range(first, last):
            incidents[k] += 1

    i = 0
    open_since: int | None = None
    open_until = open_first = open_last = 0
    for span in spans:
        start, end = span.start, span.end
        column = column_of.get(span.state, 3)
        per_piece = acc[column]
        while i < n and edges[i + 1] <= start:
            i += 1
        j = i
        while j < n and edges[j] < end:
            lo, hi = edges[j], edges[j + 1]
            a = start if start > lo else lo
            b = end if end < hi else hi
            if b > a:
                covered = overlap(a, b, maintenance) if maintenance else 0
                in_maintenance[j] += covered
                per_piece[j] += b - a - covered
            j += 1
        if column == 1 or column == 2:  # degraded, down: an incident begins or goes on
            if open_since is None:
                open_since, open_first = start, i
            open_until, open_last = end, j
        elif open_since is not None:
            close(open_since, open_until, open_first, open_last)
            open_since = None
    if open_since is not None:
        close(open_since, open_until, open_first, open_last)
    return PieceFigures(*acc, incidents)


def split(spans: Sequence[Span], edges: Sequence[int]) -> list[list[Span]]:
    """Cut spans at `edges` (sorted; the first and last bound the whole): one list per
    [edges[i], edges[i+1]) piece, each span clipped to its piece."""
    pieces: list[list[Span]] = [[] for _ in range(len(edges) - 1)]
    i = 0
    for span in spans:
        while i < len(pieces) and edges[i + 1] <= span.start:
            i += 1
        j = i
        while j < len(pieces) and edges[j] < span.end:
            a, b = max(span.start, edges[j]), min(span.end, edges[j + 1])
            if b > a:
                pieces[j].append(Span(a, b, span.state, span.since, span.reason))
            j += 1
    return pieces
