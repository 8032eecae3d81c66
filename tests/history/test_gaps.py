"""Time nobody watched, on SQLite, PostgreSQL and MariaDB: storage.gaps writes one `unknown` "not
monitored" result and state change one interval after a check's last probe when more than two
intervals passed without one, once; and the readers show the span as such: the snapshot inside it,
the timeline, uptime (unknown, left out of availability), the daily bars and the change list.

T0 = 2026-12-03 10:00 UTC. Checks run every minute (INTERVAL). `gaps/a` is up from T0-10 min, last
probed at T0; `gaps/b` goes down at T0-5 min, last probed at T0; nobody probes either until
RESUMED (T0 + 2 days + 1 h), when gaps/a is up again and gaps/b still down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from storage import compaction, history, queries, rollups
from storage.gaps import NOT_MONITORED, Gap, record_gaps
from storage.models import ResultRow, StateChangeRow
from storage.uptime import daily_by_check
from storage.writer import Writer

T0 = datetime(2026, 12, 3, 10, tzinfo=UTC)
INTERVAL = 60.0  # seconds
GAP_START = T0 + timedelta(seconds=INTERVAL)
RESUMED = T0 + timedelta(days=2, hours=1)
REASON = "not monitored: no process probed this check since 2026-12-03T10:00:00Z"


def _s(when: datetime) -> float:
    return when.timestamp()


def _sync(engine, ids: list[str], when: datetime) -> None:
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": c, "component": "gaps", "name": c.split("/")[1], "kind": "http",
                                        "settings": {}} for c in ids], now=_s(when))


def _runs(writer: Writer, check_id: str, start: datetime, end: datetime, status, reason: str = "") -> None:
    """A result every INTERVAL in [start, end]; `status(t)` gives each one's status."""
    t = start
    while t <= end:
        writer.put_result(check_id, _s(t), status(t), 0.1, reason, None)
        t += timedelta(seconds=INTERVAL)


def _seed_before_pause(engine) -> Writer:
    """gaps/a and gaps/b up to T0, as above; nothing after."""
    _sync(engine, ["gaps/a", "gaps/b"], T0 - timedelta(hours=1))
    writer = Writer(engine)
    start = T0 - timedelta(minutes=10)
    went_down = T0 - timedelta(minutes=5)
    _runs(writer, "gaps/a", start, T0, lambda _t: "up")
    _runs(writer, "gaps/b", start, T0, lambda t: "down" if t >= went_down else "up")
    writer.put_change("check", "gaps/a", _s(start), "unknown", "up", "HTTP 200")
    writer.put_change("check", "gaps/b", _s(start), "unknown", "up", "HTTP 200")
    writer.put_change("check", "gaps/b", _s(went_down), "up", "down", "HTTP 503")
    writer.flush()
    return writer


def _record(engine, now: datetime, ids=("gaps/a", "gaps/b")) -> list[Gap]:
    with Session(engine) as s, s.begin():
        return record_gaps(s, intervals=dict.fromkeys(ids, INTERVAL), now=_s(now))


def _stored(engine, check_id: str) -> tuple[list[tuple], list[tuple]]:
    """A check's not-monitored results and its state changes to unknown: (ts, status/old, reason)."""
    with Session(engine) as s:
        results = [(r.ts, r.status, r.reason) for r in s.scalars(
            select(ResultRow).where(ResultRow.check_id == check_id, ResultRow.reason == NOT_MONITORED))]
        changes = [(r.ts, r.old, r.reason) for r in s.scalars(
            select(StateChangeRow).where(StateChangeRow.check_id == check_id, StateChangeRow.new == "unknown")
            .order_by(StateChangeRow.ts))]
    return results, changes


@pytest.fixture
def paused(any_db):
    """The two checks paused at T0; the gap recorded at RESUMED, then the first runs after it."""
    writer = _seed_before_pause(any_db)
    gaps = _record(any_db, RESUMED)
    assert gaps == [Gap("gaps/a", GAP_START, "up"), Gap("gaps/b", GAP_START, "down")]
    writer.put_result("gaps/a", _s(RESUMED), "up", 0.1, "", None)
    writer.put_result("gaps/b", _s(RESUMED), "down", 0.1, "HTTP 503", None)
    writer.put_change("check", "gaps/a", _s(RESUMED), "unknown", "up", "HTTP 200")
    writer.put_change("check", "gaps/b", _s(RESUMED), "unknown", "down", "HTTP 503")
    writer.flush()
    with Session(any_db) as session:
        yield session


# -- the rule ----------------------------------------------------------------------------------
def test_two_intervals_late_is_no_gap_a_millisecond_more_is_one(any_db):
    _seed_before_pause(any_db)
    assert _record(any_db, T0 + timedelta(seconds=2 * INTERVAL)) == []
    assert _stored(any_db, "gaps/a") == ([], [])
    gaps = _record(any_db, T0 + timedelta(seconds=2 * INTERVAL, milliseconds=1))
    assert gaps == [Gap("gaps/a", GAP_START, "up"), Gap("gaps/b", GAP_START, "down")]
    assert _stored(any_db, "gaps/a") == ([(GAP_START, "unknown", NOT_MONITORED)], [(GAP_START, "up", REASON)])
    assert _stored(any_db, "gaps/b") == ([(GAP_START, "unknown", NOT_MONITORED)], [(GAP_START, "down", REASON)])
    with Session(any_db) as s:  # the state a process taking the checks over restores
        assert queries.latest_states(s)["gaps/b"] == ("unknown", GAP_START, REASON)


def test_the_gap_is_written_once(any_db):
    _seed_before_pause(any_db)
    assert len(_record(any_db, T0 + timedelta(hours=1))) == 2
    assert _record(any_db, T0 + timedelta(hours=1)) == []  # the same call again
    assert _record(any_db, T0 + timedelta(days=1)) == []  # later, still nobody probed
    assert _stored(any_db, "gaps/a") == ([(GAP_START, "unknown", NOT_MONITORED)], [(GAP_START, "up", REASON)])


def test_a_new_pause_after_runs_resumed_is_a_new_gap(any_db):
    writer = _seed_before_pause(any_db)
    _record(any_db, T0 + timedelta(hours=1), ids=["gaps/a"])
    back = T0 + timedelta(hours=1)
    writer.put_change("check", "gaps/a", _s(back), "unknown", "up", "HTTP 200")
    _runs(writer, "gaps/a", back, back + timedelta(minutes=5), lambda _t: "up")
    writer.flush()
    later = back + timedelta(minutes=5, seconds=INTERVAL)
    assert _record(any_db, back + timedelta(hours=1), ids=["gaps/a"]) == [Gap("gaps/a", later, "up")]
    results, changes = _stored(any_db, "gaps/a")
    assert [r[0] for r in results] == [GAP_START, later]
    assert changes[1] == (later, "up", f"{NOT_MONITORED}: no process probed this check since 2026-12-03T11:05:00Z")


def test_a_check_never_probed_gets_no_gap(any_db):
    _sync(any_db, ["gaps/new"], T0 - timedelta(days=1))
    writer = Writer(any_db)  # judged unknown by a dependency, never probed: nothing to anchor a gap on
    writer.put_change("check", "gaps/new", _s(T0 - timedelta(days=1)), "unknown", "unknown", "dependency down")
    writer.flush()
    assert _record(any_db, T0, ids=["gaps/new", "gaps/unconfigured"]) == []
    with Session(any_db) as s:
        assert s.scalar(select(func.count()).select_from(ResultRow)) == 0


def test_a_state_change_after_the_last_stored_result_counts_as_a_probe(any_db):
    writer = _seed_before_pause(any_db)  # the writer drops results when its buffer overflows, never changes
    judged = T0 + timedelta(minutes=30)
    writer.put_change("check", "gaps/a", _s(judged), "up", "down", "HTTP 500")
    writer.flush()
    assert _record(any_db, judged + timedelta(seconds=2 * INTERVAL), ids=["gaps/a"]) == []
    assert _record(any_db, RESUMED, ids=["gaps/a"]) == [
        Gap("gaps/a", judged + timedelta(seconds=INTERVAL), "down")]


def test_a_check_whose_last_results_are_packed_gets_its_gap(any_db):
    """A shard unheld for hours while another process runs housekeeping: its last results are
    packed (storage/compaction.py), not in the hot table."""
    _sync(any_db, ["gaps/packed"], T0 - timedelta(days=1))
    writer = Writer(any_db)
    last = T0 - timedelta(hours=5, seconds=INTERVAL)
    _runs(writer, "gaps/packed", T0 - timedelta(hours=6), last, lambda _t: "up")
    writer.put_change("check", "gaps/packed", _s(T0 - timedelta(hours=6)), "unknown", "up", "HTTP 200")
    writer.flush()
    rollups.update(any_db, now=_s(T0))
    assert compaction.compact(any_db, now=_s(T0)).rows == 60
    with Session(any_db) as s:
        assert s.scalar(select(func.count()).select_from(ResultRow)) == 0
    assert _record(any_db, T0, ids=["gaps/packed"]) == [Gap("gaps/packed", T0 - timedelta(hours=5), "up")]


def test_ten_thousand_checks_in_one_call(any_db):
    """Half of them last probed an hour ago (a gap), half a minute ago, a hundred never: a bounded
    number of statements (IN-lists of at most 1000 ids), and right."""
    ids = [f"gaps/c{i:05d}" for i in range(10_000)]
    stale = set(ids[::2])
    never = set(ids[1::100])
    rows = [{"check_id": c, "ts": T0 - (timedelta(hours=1) if c in stale else timedelta(minutes=1)),
             "status": "up", "latency": 0.1, "reason": "", "details": None} for c in ids if c not in never]
    changes = [{"check_id": r["check_id"], "ts": r["ts"], "old": "unknown", "new": "up", "reason": "HTTP 200"}
               for r in rows]
    with Session(any_db) as s, s.begin():
        s.execute(insert(ResultRow), rows)
        s.execute(insert(StateChangeRow), changes)
    statements: list[tuple[str, int]] = []  # (statement, bound parameters of a read)

    def count(_conn, _cursor, statement, params, _context, executemany):
        statements.append((statement, 0 if executemany else len(params or ())))

    event.listen(any_db, "before_cursor_execute", count)
    try:
        gaps = _record(any_db, T0, ids=ids)
    finally:
        event.remove(any_db, "before_cursor_execute", count)
    assert {g.check_id for g in gaps} == stale - never and len(gaps) == 5000
    assert {g.start for g in gaps} == {T0 - timedelta(hours=1) + timedelta(seconds=INTERVAL)}
    reads = [n for statement, n in statements if not statement.lstrip().upper().startswith("INSERT")]
    assert len(reads) <= 10 * 3  # per 1000 ids: the last hot results, the newest packed hour, the states
    assert max(reads) <= 1000 + 10  # the ids of one IN-list, and a few other parameters
    assert len(statements) - len(reads) <= 2 * 10  # one insert per table, sent in batches by some drivers
    assert _record(any_db, T0, ids=ids) == []  # once
    with Session(any_db) as s:
        assert s.scalar(select(func.count()).select_from(ResultRow).where(ResultRow.status == "unknown")) == 5000
        assert s.scalar(select(func.count()).select_from(StateChangeRow).where(StateChangeRow.new == "unknown")
                        ) == 5000


# -- the readers -------------------------------------------------------------------------------
def test_snapshot_inside_the_gap_says_not_monitored(paused):
    checks = {c.id: c for c in history.snapshot(paused, at=T0 + timedelta(days=1)).checks}
    for cid in ("gaps/a", "gaps/b"):
        c = checks[cid]
        assert (c.state, c.since, c.reason) == ("unknown", GAP_START, REASON)
        assert (c.last_result.time, c.last_result.status, c.last_result.reason) == (
            GAP_START, "unknown", NOT_MONITORED)
    after = {c.id: c.state for c in history.snapshot(paused, at=RESUMED).checks}
    assert after == {"gaps/a": "up", "gaps/b": "down"}
    before = {c.id: c.state for c in history.snapshot(paused, at=T0 + timedelta(seconds=30)).checks}
    assert before == {"gaps/a": "up", "gaps/b": "down"}


def test_timeline_and_changes_show_the_unknown_interval(paused):
    start, end = T0 - timedelta(minutes=10), RESUMED + timedelta(hours=1)
    tl = {c.id: c for c in history.timeline(paused, start=start, end=end).checks}
    assert [(i.start, i.end, i.state, i.reason) for i in tl["gaps/b"].intervals] == [
        (start, T0 - timedelta(minutes=5), "up", "HTTP 200"),
        (T0 - timedelta(minutes=5), GAP_START, "down", "HTTP 503"),
        (GAP_START, RESUMED, "unknown", REASON),
        (RESUMED, end, "down", "HTTP 503")]
    replay = history.changes(paused, start=T0, end=RESUMED)
    assert [(c.subject, c.time, c.new, c.reason) for c in replay.changes] == [
        ("gaps/b", GAP_START, "unknown", REASON), ("gaps/a", GAP_START, "unknown", REASON)]


def test_uptime_counts_the_gap_as_unknown_not_in_availability(paused):
    end = RESUMED + timedelta(hours=1)
    entries = {e.id: e for e in history.uptime(paused, start=T0 - timedelta(minutes=10), end=end, now=end,
                                               by="check").entries}
    gap = (RESUMED - GAP_START).total_seconds()
    a, b = entries["gaps/a"], entries["gaps/b"]
    assert (a.unknown_seconds, b.unknown_seconds) == (gap, gap)
    assert (a.measured_seconds, a.availability) == (660 + 3600, 100.0)
    # down five minutes and one interval before the pause, an hour after it: not the two days between
    assert b.down_seconds == 360 + 3600 and b.measured_seconds == 660 + 3600
    assert b.availability == pytest.approx(100 * 300 / 4260)


def test_daily_bars_show_a_day_nobody_watched_as_unknown(paused):
    now = RESUMED + timedelta(hours=1)
    availability, daily = daily_by_check(paused, check_ids=["gaps/a"], now=now, days=3)["gaps/a"]
    assert daily.worst == ["up", "unknown", "up"]  # Dec 3, Dec 4 (nobody watched all day), Dec 5
    assert daily.availability[1] is None and availability == 100.0
    # Dec 3: configured at 09:00, first judged at 09:50, then the gap from 10:01
    assert daily.unknown_seconds == [50 * 60 + 14 * 3600 - 60, 86400.0, 11 * 3600]


def test_a_check_unknown_before_the_pause(any_db):
    """Its gap is written (the snapshot inside it says not monitored); the timeline keeps one
    unknown interval across it, with the earlier reason: one interval per state."""
    _sync(any_db, ["gaps/u"], T0 - timedelta(hours=1))
    writer = Writer(any_db)
    start = T0 - timedelta(minutes=10)
    _runs(writer, "gaps/u", start, T0, lambda _t: "unknown", "dependency gaps/db is down")
    writer.put_change("check", "gaps/u", _s(start), "unknown", "unknown", "dependency gaps/db is down")
    writer.flush()
    assert _record(any_db, RESUMED, ids=["gaps/u"]) == [Gap("gaps/u", GAP_START, "unknown")]
    with Session(any_db) as s:
        inside = history.snapshot(s, at=T0 + timedelta(days=1)).checks[0]
        assert (inside.state, inside.since, inside.reason) == ("unknown", GAP_START, REASON)
        tl = history.timeline(s, start=start, end=RESUMED).checks[0]
        assert [(i.start, i.end, i.state, i.reason) for i in tl.intervals] == [
            (start, RESUMED, "unknown", "dependency gaps/db is down")]
