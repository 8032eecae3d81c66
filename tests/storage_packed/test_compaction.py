"""Compaction on SQLite, PostgreSQL and MariaDB: every reader answers the same before and after
raw results are packed; reruns, late writes, interruptions and retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import compaction, history, packing, queries, raw, rollups
from storage.db import create_db_engine, upgrade
from storage.models import ResultRow
from storage.packed_models import PackedResultRow
from storage.retention import Retention, apply_retention
from tests.history import scenario
from tests.history.dump import dump_rollups
from tests.history.scenario import H, at, ts

NOW = 12 * H + 60  # offset of "now": the scenario's results end at +12:00


def answers(engine) -> dict:
    """What the readers of raw results say about the scenario."""
    with Session(engine) as s:
        return {
            "results": [(r.check_id, r.ts, r.status, r.latency, r.reason, r.details)
                        for r in queries.results(s, check_id="web/a", limit=10_000)],
            "results_page": [r.ts for r in queries.results(s, check_id="web/a", start=at(H + 600), end=at(5 * H),
                                                           limit=37)],
            "latest": {c: (r.ts, r.status) for c, r in queries.latest_results(s).items()},
            "raw_oldest_first": [r.ts for r in raw.raw_results(s, check_ids=["web/a"], start=at(0), end=at(3 * H),
                                                               limit=50)],
            "last_at": {c: r.ts for c, r in raw.last_result_at(s, check_ids=None, at=at(2 * H + 90)).items()},
            "snapshots": [[(c.id, c.last_result) for c in history.snapshot(s, at=at(t)).checks]
                          for t in (30, 2 * H + 15 * 60, 9 * H + 59, 12 * H)],
            "history": [history.check_history(s, check_id="web/a", start=at(a), end=at(b), now=at(NOW))
                        for a, b in ((0, 2 * H), (H + 30, 3 * H + 30), (0, 12 * H))],
        }


def counts(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (s.scalar(select(func.count()).select_from(ResultRow)),
                s.scalar(select(func.count()).select_from(PackedResultRow)))


def test_readers_answer_the_same_after_compaction(any_db):
    engine = any_db
    scenario.seed(engine).stop()
    rollups.update(engine, now=ts(NOW))
    before, rollups_before = answers(engine), dump_rollups(engine)
    report = compaction.compact(engine, now=ts(NOW))
    # hours before min(now - 2 h, watermark - 5 min), floored to the hour: 0:00 … 10:00
    assert (report.hours, report.rows) == (10, 600)
    assert counts(engine) == (120, 10)
    assert answers(engine) == before
    again = compaction.compact(engine, now=ts(NOW))  # idempotent
    assert (again.rows, counts(engine)) == (0, (120, 10))
    # a recompute of packed hours (as after a late write) reads the packed results
    backlog = rollups.Backlog()
    backlog.give_back(ts(0))
    rollups.update(engine, now=ts(NOW + 60), backlog=backlog)
    assert dump_rollups(engine) == rollups_before


def test_a_late_write_into_a_packed_hour(any_db):
    engine = any_db
    writer = scenario.seed(engine)
    rollups.update(engine, now=ts(NOW))
    compaction.compact(engine, now=ts(NOW))
    # an outage drained late: a new run at +1:00:30 and a re-push of the packed run at +1:00:00
    writer.put_result("web/a", ts(H + 30), "down", 10.0, "late", {"n": 1})
    writer.put_result("web/a", ts(H), "down", 10.0, "re-push", None)
    writer.flush()
    writer.stop()
    with Session(engine) as s:
        got = raw.raw_results(s, check_ids=["web/a"], start=at(H), end=at(H + 90))
        assert [(r.ts, r.reason) for r in got][:2] == [(at(H), ""), (at(H + 30), "late")]
    backlog = rollups.Backlog()
    backlog.give_back(ts(H + 30))
    rollups.update(engine, now=ts(NOW + 60), backlog=backlog)
    with Session(engine) as s:
        hour = history.check_history(s, check_id="web/a", start=at(H), end=at(2 * H), now=at(NOW))
        assert sum(p.runs for p in hour.points) == 61
    compaction.compact(engine, now=ts(NOW + 60))
    with Session(engine) as s:
        row = s.get(PackedResultRow, ("web/a", round(ts(H) * 1000)))
        assert row.count == 61
        unpacked = packing.decode(row.blob, base_ms=row.hour)
        assert [(p.ts_ms - row.hour, p.reason) for p in unpacked[:2]] == [(0, ""), (30_000, "late")]
        assert s.scalar(select(func.count()).select_from(ResultRow).where(ResultRow.ts < at(2 * H))) == 0


def test_an_interrupted_run_loses_nothing(any_db, monkeypatch):
    engine = any_db
    scenario.seed(engine).stop()
    rollups.update(engine, now=ts(NOW))
    before = answers(engine)
    real, calls = packing.encode, []

    def failing(results, *, base_ms):
        calls.append(base_ms)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(results, base_ms=base_ms)

    monkeypatch.setattr(packing, "encode", failing)
    with pytest.raises(RuntimeError):
        compaction.compact(engine, now=ts(NOW))
    assert counts(engine) == (720 - 120, 2)  # two hours done, the third rolled back
    assert answers(engine) == before
    monkeypatch.setattr(packing, "encode", real)
    stop = threading.Event()
    stop.set()
    assert compaction.compact(engine, now=ts(NOW), stop=stop).rows == 0
    compaction.compact(engine, now=ts(NOW))
    assert counts(engine) == (120, 10)
    assert answers(engine) == before


def test_retention_deletes_packed_hours(any_db):
    engine = any_db
    scenario.seed(engine).stop()
    rollups.update(engine, now=ts(NOW))
    compaction.compact(engine, now=ts(NOW))
    # raw kept 8 h 30 min at +12:01: results before +3:31 go; the packed hours 0:00 … 2:00 wholly
    deleted = apply_retention(engine, now=ts(NOW), retention=Retention(raw=timedelta(hours=8.5)))
    assert deleted["results_packed"] == 3
    with Session(engine) as s:
        assert raw.raw_results(s, check_ids=["web/a"], limit=1)[0].ts == at(3 * H)


def test_without_delete_returning(tmp_path, monkeypatch):
    """Databases without DELETE … RETURNING: the rows read are deleted one by one, same outcome."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    try:
        scenario.seed(engine).stop()
        rollups.update(engine, now=ts(NOW))
        before = answers(engine)
        monkeypatch.setattr(engine.dialect, "delete_returning", False)
        assert compaction.compact(engine, now=ts(NOW)).rows == 600
        assert counts(engine) == (120, 10)
        assert answers(engine) == before
    finally:
        engine.dispose()
