"""Rollups and retention on SQLite: hand-computed buckets, idempotent reruns, a restart, results
written late after an outage, gaps; retention deletes exactly what is older than each window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import rollups
from storage.latency import Summary, decode_slots
from storage.models import ComponentChangeRow, ResultRow, StateChangeRow
from storage.retention import Retention, apply_retention
from storage.rollup_models import ComponentRollup1d, Rollup1d, Rollup1h, Rollup5m
from storage.writer import Writer
from tests.history import scenario
from tests.history.scenario import T0, H, ts


def table_rows(engine, model) -> list[tuple]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(model.__table__).order_by("check_id", "bucket"))]


def component_days(engine) -> list[tuple]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(ComponentRollup1d.__table__).order_by("component", "bucket"))]


def hour(engine, check_id: str, offset: float) -> Summary | None:
    with Session(engine) as s:
        row = s.execute(select(Rollup1h.__table__).where(Rollup1h.check_id == check_id,
                                                         Rollup1h.bucket == scenario.at(offset))).first()
    return None if row is None else Summary.from_columns(row)


def test_buckets_hold_exactly_the_results(engine):
    scenario.seed(engine)
    report = rollups.update(engine, now=ts(12 * H + 60))
    assert report.start_ms == round(T0.timestamp() * 1000) and report.hours_written == 12
    outage = hour(engine, "web/a", 2 * H)  # 30 runs down (2:00-2:29), 30 up
    assert (outage.runs, outage.down, outage.up, outage.degraded) == (60, 30, 30, 0)
    assert outage.latency_count == 30 and outage.lat_sum == pytest.approx(3.0) and outage.lat_max == 0.1
    assert 0.0905 < outage.percentile(0.5) <= 0.1  # inside the bin holding 0.1
    with Session(engine) as s:
        packed = s.scalar(select(Rollup5m.detail).where(Rollup5m.check_id == "web/a",
                                                        Rollup5m.bucket == scenario.at(2 * H)))
    slots = decode_slots(packed)
    assert [(x.runs, x.down) for x in slots] == [(5, 5)] * 6 + [(5, 0)] * 6
    with Session(engine) as s:
        day = Summary.from_columns(s.execute(select(Rollup1d.__table__)).one())
    assert (day.runs, day.down, day.degraded) == (720, 30, 60)
    assert day.lat_sum == pytest.approx(0.1 * 630 + 2.0 * 60) and day.lat_max == 2.0
    assert hour(engine, "web/b", 2 * H) is None  # no results, no rows
    with Session(engine) as s:  # the component's day: the sum of its checks' days
        rows = s.execute(select(ComponentRollup1d.__table__)).all()
    assert [(r.component, Summary.from_columns(r).bins) for r in rows] == [("web", day.bins)]


def test_running_again_or_after_a_restart_counts_nothing_twice(engine):
    scenario.seed(engine)
    rollups.update(engine, now=ts(12 * H + 60))
    before = [table_rows(engine, m) for m in (Rollup5m, Rollup1h, Rollup1d)]
    before.append(component_days(engine))
    rollups.update(engine, now=ts(12 * H + 60))
    rollups.update(engine, now=ts(12 * H + 120), backlog=rollups.Backlog())  # "restarted": empty backlog
    assert [table_rows(engine, m) for m in (Rollup5m, Rollup1h, Rollup1d)] + [component_days(engine)] == before
    with Session(engine) as s:
        assert rollups.get_mark(s) == round(ts(12 * H + 120) * 1000)


def test_service_down_for_hours_then_back(engine):
    """A gap with no results leaves no rows; results after the restart are rolled up from the
    watermark the last run left."""
    writer = scenario.seed(engine, results_until=3 * H)
    rollups.update(engine, now=ts(3 * H))
    scenario.write_results(writer, 8 * H, 9 * H)  # the service was down from 3:00 to 8:00
    writer.flush()
    rollups.update(engine, now=ts(9 * H), backlog=rollups.Backlog())
    assert [hour(engine, "web/a", h * H) is None for h in range(2, 10)] == [False] + [True] * 5 + [False, True]
    assert hour(engine, "web/a", 8 * H).runs == 60
    with Session(engine) as s:
        day = Summary.from_columns(s.execute(select(Rollup1d.__table__)).one())
    assert day.runs == 3 * 60 + 60


def test_results_written_late_after_an_outage_are_rolled_up(engine):
    """The database was away: the writer kept results and writes them after the rollup job has
    moved on. The writer's listener tells the job, which recomputes those buckets."""
    writer = scenario.seed(engine, results_until=3 * H)
    backlog = rollups.Backlog()
    writer.listeners.append(backlog.note)
    rollups.update(engine, now=ts(5 * H), backlog=backlog)
    scenario.write_results(writer, 3 * H, 4 * H)  # buffered during the outage, written now
    writer.flush()
    # without the backlog the job would only look back LATE_MARGIN from its watermark
    rollups.update(engine, now=ts(5 * H + 60))
    assert hour(engine, "web/a", 3 * H) is None
    rollups.update(engine, now=ts(5 * H + 120), backlog=backlog)
    assert hour(engine, "web/a", 3 * H).runs == 60
    with Session(engine) as s:
        assert Summary.from_columns(s.execute(select(Rollup1d.__table__)).one()).runs == 4 * 60


def test_a_failed_run_gives_its_backlog_back(engine):
    scenario.seed(engine, results_until=H)
    backlog = rollups.Backlog()
    backlog.give_back(ts(0))
    engine.dispose()
    broken = engine.url.set(database="/nonexistent/dir/x.db")
    from sqlalchemy import create_engine

    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        rollups.update(create_engine(broken), now=ts(2 * H), backlog=backlog)
    assert backlog.take() == ts(0)


def test_the_first_run_starts_at_the_oldest_result_and_skips_expired_hours(engine):
    scenario.seed(engine)
    # 7 days later, with raw results kept 7 days: hours before now - 7 d may be partly deleted
    report = rollups.update(engine, now=ts(7 * 24 * H + 5 * H + 1800), raw_retention=timedelta(days=7))
    assert report.start_ms == round(ts(6 * H) * 1000)
    assert hour(engine, "web/a", 5 * H) is None and hour(engine, "web/a", 6 * H).runs == 60


def count(engine, model, *where) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_retention_deletes_exactly_what_is_older_than_each_window(engine):
    day = 24 * H
    now = ts(400 * day + 12.5 * H)  # cutoffs fall in the middle of an hour
    writer = Writer(engine)
    raw_cut = now - 7 * day
    for t in (raw_cut - 0.001, raw_cut, raw_cut + 1):
        writer.put_result("web/a", t, "up", 0.1, "", None)
    writer.flush()
    # a bucket goes once it has ended at or before its cutoff: [11:00, 12:00) goes, [12:00, 13:00) stays
    rows = [(Rollup5m, 365 * day + 11 * H), (Rollup5m, 365 * day + 12 * H),  # 5-minute: 35 days
            (Rollup1h, 11 * H), (Rollup1h, 12 * H),  # hourly: 400 days
            (Rollup1d, -1000 * day)]  # daily: kept
    with Session(engine) as s, s.begin():
        rollups.set_mark(s, rollups.MARK, round(now * 1000))
        for model, offset in rows:
            values = {"detail": b"\x01"} if model is Rollup5m else Summary().columns()
            s.add(model(check_id="web/a", bucket=scenario.at(offset), **values))
    deleted = apply_retention(engine, now=now, retention=Retention())
    assert deleted == {"results": 1, "rollup_5m": 1, "rollup_1h": 1}
    with Session(engine) as s:
        assert [r.timestamp() for r in s.scalars(select(ResultRow.ts))] == pytest.approx([raw_cut, raw_cut + 1])
        kept = [(model, s.scalar(select(model.bucket))) for model in (Rollup5m, Rollup1h, Rollup1d)]
    assert [b for _, b in kept] == [scenario.at(365 * day + 12 * H), scenario.at(12 * H), scenario.at(-1000 * day)]
    assert apply_retention(engine, now=now, retention=Retention()) == {"results": 0, "rollup_5m": 0,
                                                                         "rollup_1h": 0}


def test_raw_results_are_kept_until_rolled_up(engine):
    writer = Writer(engine)
    for day in range(10):
        writer.put_result("web/a", ts(day * 24 * H), "up", 0.1, "", None)
    writer.flush()
    now = ts(9 * 24 * H + H)
    assert "results" not in apply_retention(engine, now=now, retention=Retention())  # never rolled up: kept
    with Session(engine) as s, s.begin():
        rollups.set_mark(s, rollups.MARK, round(ts(24 * H + 1) * 1000))  # rolled up to day 1 (+1 s)
    assert apply_retention(engine, now=now, retention=Retention())["results"] == 1  # not day 1: LATE_MARGIN


def test_state_change_retention_keeps_the_state_at_the_edge(engine):
    scenario.seed(engine, results_until=0)
    retention = Retention(state_changes=timedelta(hours=6))
    deleted = apply_retention(engine, now=ts(12 * H), retention=retention)
    # before 6:00, each subject keeps its last change: web/a up at 2:30, web/b up at 2:20, db/x down at 5:00
    assert (deleted["state_changes"], deleted["component_changes"]) == (2 + 2 + 1, 2 + 1)
    with Session(engine) as s:
        left = sorted((r.check_id, r.ts.timestamp() - T0.timestamp()) for r in s.scalars(select(StateChangeRow)))
        comps = sorted((r.component, r.ts.timestamp() - T0.timestamp()) for r in s.scalars(select(ComponentChangeRow)))
    assert left == [("db/x", 5 * H), ("db/x", 7 * H), ("web/a", 2.5 * H), ("web/a", 10 * H), ("web/a", 11 * H),
                    ("web/b", 1200 + 2 * H), ("web/old", 0)]
    assert comps == [("db", 5 * H), ("db", 7 * H), ("web", 2.5 * H), ("web", 10 * H), ("web", 11 * H)]


def test_retention_windows_must_grow_with_the_grain():
    with pytest.raises(ValueError, match="rollup_1h must be kept at least as long as rollup_5m"):
        Retention(rollup_5m=timedelta(days=40), rollup_1h=timedelta(days=30))
    with pytest.raises(ValueError, match="rollup_5m must be kept at least as long as raw"):
        Retention(raw=None)


def test_the_history_migration_goes_down_and_up_again(engine):
    from alembic import command
    from sqlalchemy import inspect

    from storage.db import alembic_config, upgrade

    history_tables = {"rollup_5m", "rollup_1h", "rollup_1d", "component_rollup_1d", "history_marks",
                      "maintenance_windows"}
    assert history_tables <= set(inspect(engine).get_table_names())
    command.downgrade(alembic_config(engine), "0001")
    assert not history_tables & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert history_tables <= set(inspect(engine).get_table_names())
