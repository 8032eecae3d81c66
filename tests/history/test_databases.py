"""The same history on SQLite, PostgreSQL and MariaDB: migration, rollups (twice), every query
and retention give the hand-computed answers (the SQL differs per database: LATERAL on
PostgreSQL, correlated subqueries elsewhere, integer arithmetic on times everywhere)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import history, rollups
from storage.latency import Summary
from storage.retention import Retention, apply_retention
from storage.rollup_models import ComponentRollup1d, Rollup1d, Rollup1h, Rollup5m
from tests.history import scenario
from tests.history.scenario import H, at, ts


def dump(engine) -> list[list[tuple]]:
    with Session(engine) as s:
        out = [[tuple(r) for r in s.execute(select(m.__table__).order_by("check_id", "bucket"))]
               for m in (Rollup5m, Rollup1h, Rollup1d)]
        out.append([tuple(r) for r in s.execute(select(ComponentRollup1d.__table__).order_by("component"))])
        return out


def test_history_on_every_database(any_db):
    engine = any_db
    scenario.seed(engine)
    rollups.update(engine, now=ts(12 * H + 60))
    first = dump(engine)
    rollups.update(engine, now=ts(12 * H + 120))
    assert dump(engine) == first  # recomputed, not added to
    with Session(engine) as s:
        row = s.execute(select(Rollup1h.__table__).where(Rollup1h.bucket == at(2 * H))).one()
        hour = Summary.from_columns(row)
        assert (hour.runs, hour.down, hour.latency_count) == (60, 30, 30)
        # results.latency is a single-precision FLOAT on MySQL/MariaDB: 0.1 reads back as 0.10000000149
        assert hour.lat_sum == pytest.approx(3.0) and hour.lat_max == pytest.approx(0.1)
        assert Summary.from_columns(s.execute(select(Rollup1d.__table__)).one()).runs == 720

        snap = history.snapshot(s, at=at(2 * H + 15 * 60))
        states = {c.id: (c.state, c.since) for c in snap.checks}
        assert states == {"web/a": ("down", at(2 * H)), "web/b": ("down", at(2 * H + 600)),
                          "web/old": ("up", at(0)), "db/x": ("up", at(0))}
        assert {c.id: c.state for c in snap.components} == {"web": "down", "db": "up"}
        assert [c.last_result.status for c in snap.checks if c.id == "web/a"] == ["down"]
        assert (snap.previous_change.time, snap.next_change.time) == (at(2 * H + 600), at(2 * H + 1200))

        up = {e.id: e for e in history.uptime(s, start=at(0), end=at(24 * H), now=at(48 * H)).entries}
        assert (up["web"].down_seconds, up["web"].degraded_seconds, up["web"].incidents) == (1800, 3600, 2)
        assert (up["db"].down_seconds, up["db"].maintenance_seconds, up["db"].mttr_seconds) == (3600, 7200, 7200)
        assert up["web"].runs == 720

        found = history.incidents(s, start=at(0), end=at(24 * H), now=at(24 * H))
        assert [(i.component, i.start, i.worst, i.checks) for i in found] == [
            ("web", at(10 * H), "degraded", ["web/a"]), ("db", at(5 * H), "down", ["db/x"]),
            ("web", at(2 * H), "down", ["web/a", "web/b"])]
        tl = history.timeline(s, start=at(H), end=at(3 * H), component="web", include_checks=False)
        assert [i.state for i in tl.components[0].intervals] == ["up", "down", "up"]

        five = history.check_history(s, check_id="web/a", start=at(0), end=at(12 * H), now=at(20 * 24 * H),
                                     max_points=200)
        assert five.resolution == "5m" and len(five.points) == 144 and five.points[24].down == 5
        over = {c.id: c for c in history.overview(s, now=at(12 * H), days=2).components}
        assert over["web"].daily.down_seconds[-1] == 1800

    deleted = apply_retention(engine, now=ts(12 * H), retention=Retention(state_changes=timedelta(hours=6)))
    assert (deleted["state_changes"], deleted["component_changes"]) == (5, 3)
    with Session(engine) as s:
        later = history.snapshot(s, at=at(6.5 * H))  # still right: the changes at the edge were kept
        assert {c.id: c.state for c in later.checks} == {"web/a": "up", "web/b": "up", "db/x": "down"}
