"""Time nobody watched: writes an `unknown` "not monitored" result and state change where no process
probed a check for more than two of its intervals, so that history never shows such a span in the
last state recorded. Writes only what the caller asks for; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from storage import raw
from storage.db import insert_ignoring_duplicates
from storage.models import ResultRow, StateChangeRow
from storage.mstime import from_ms, to_ms
from storage.queries import latest_states

__all__ = ["GAP_AFTER_INTERVALS", "IDS_PER_QUERY", "NOT_MONITORED", "Gap", "record_gaps"]

NOT_MONITORED = "not monitored"
"""The reason of a gap's result, and the start of its state change's reason: what replay,
timelines and the check page show for the span, and how a later call knows a gap is written."""
GAP_AFTER_INTERVALS = 2
"""A check whose last probe is more than this many of its intervals old was not watched: one
interval late is a slow run or a busy scheduler, two is nobody probing it."""
IDS_PER_QUERY = 1000  # check ids per IN-list: well inside every database's limits, few round trips


@dataclass(slots=True, frozen=True)
class Gap:
    """One span written as not monitored: from `start` until the check's next result, after
    `last_state` (the state recorded before it)."""

    check_id: str
    start: datetime
    last_state: str


def record_gaps(session: Session, *, intervals: Mapping[str, float], now: float) -> list[Gap]:
    """For each check of `intervals` (id → interval in seconds) last probed or judged more than
    GAP_AFTER_INTERVALS intervals before `now` (unix seconds), write an `unknown` result with reason
    NOT_MONITORED one interval after that last probe, and a state change to `unknown` at the same
    time saying since when nobody probed it. A check never probed gets nothing (its history does
    not begin yet); one whose gap is written already, with no result since, gets nothing again, and
    a second process racing this one writes the same rows, which are kept once. Returns the gaps
    found (a racing process may have written them first). Three or four queries per IDS_PER_QUERY
    checks (more only when a check's last results are packed), then one insert per table.

    Call it when probing resumes (a start, a shard taken over) for the checks about to be probed,
    before their state is restored from storage: the state machine then starts from `unknown`."""
    now_ms = round(now * 1000)
    ids = sorted(intervals)
    gaps: list[Gap] = []
    results: list[dict[str, object]] = []
    changes: list[dict[str, object]] = []
    for first in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[first:first + IDS_PER_QUERY]
        last_results = raw.last_result_at(session, check_ids=chunk)
        states = latest_states(session, check_ids=chunk)
        for check_id in chunk:
            result = last_results.get(check_id)
            if result is None:
                continue
            state, changed_at, reason = states.get(check_id, ("unknown", None, ""))
            changed_ms = None if changed_at is None else to_ms(changed_at)
            if (changed_ms is not None and changed_ms >= result.ts_ms and state == "unknown"
                    and reason.startswith(NOT_MONITORED)):
                continue  # this gap is written already and nothing was probed since
            # a state change later than the last stored result is a judgement too (the writer
            # drops the oldest results, never changes, when its buffer overflows)
            last_ms = max(result.ts_ms, changed_ms if changed_ms is not None else result.ts_ms)
            interval_ms = round(intervals[check_id] * 1000)
            if now_ms - last_ms <= GAP_AFTER_INTERVALS * interval_ms:
                continue
            start = from_ms(last_ms + interval_ms)
            results.append({"check_id": check_id, "ts": start, "status": "unknown", "latency": None,
                            "reason": NOT_MONITORED, "details": None})
            changes.append({"check_id": check_id, "ts": start, "old": state, "new": "unknown",
                            "reason": f"{NOT_MONITORED}: no process probed this check since {_text(last_ms)}"})
            gaps.append(Gap(check_id, start, state))
    if results:
        bind = session.get_bind()
        session.execute(insert_ignoring_duplicates(bind, ResultRow), results)
        session.execute(insert_ignoring_duplicates(bind, StateChangeRow), changes)
    return gaps


def _text(ms: int) -> str:
    """An instant as the API writes it (`2026-12-03T10:00:00Z`), to the second: for a reason."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
