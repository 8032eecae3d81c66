"""The history queries against the scenario (tests/history/scenario.py), answers computed by
hand: snapshot and stepping, timelines, uptime with maintenance left out, incidents, series."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from storage import history, maintenance, rollups
from storage.mstime import to_ms
from storage.retention import Retention
from tests.history import scenario
from tests.history.scenario import H, at, ts


@pytest.fixture
def db(engine):
    scenario.seed(engine)
    rollups.update(engine, now=ts(12 * H + 60))
    with Session(engine) as session:
        yield session


def by_id(items):
    return {x.id: x for x in items}


def test_snapshot_at_an_instant(db):
    snap = history.snapshot(db, at=at(2 * H + 15 * 60))
    checks = by_id(snap.checks)
    assert set(checks) == {"web/a", "web/b", "web/old", "db/x"}
    assert (checks["web/a"].state, checks["web/a"].since, checks["web/a"].reason) == ("down", at(2 * H), "HTTP 503")
    assert checks["web/a"].change.old == "up" and checks["web/b"].state == "down"
    assert checks["db/x"].state == "up" and checks["db/x"].since == at(0)
    last = checks["web/a"].last_result  # runs every minute: the one at 2:15 itself
    assert (last.time, last.status, last.latency) == (at(2 * H + 15 * 60), "down", 10.0)
    assert checks["web/b"].last_result is None  # none stored
    comps = by_id(snap.components)
    assert (comps["web"].state, comps["web"].since, comps["web"].checks) == ("down", at(2 * H), {"down": 2, "up": 1})
    assert comps["db"].state == "up" and not comps["db"].maintenance
    assert (snap.previous_change.subject, snap.previous_change.time) == ("web/b", at(2 * H + 600))
    assert (snap.next_change.subject, snap.next_change.time, snap.next_change.new) == ("web/b", at(2 * H + 1200), "up")


def test_snapshot_leaves_out_retired_checks_and_shows_maintenance(db):
    snap = history.snapshot(db, at=at(6.5 * H))
    checks = by_id(snap.checks)
    assert "web/old" not in checks  # retired at 6:00
    assert checks["db/x"].maintenance and not checks["web/a"].maintenance
    assert by_id(snap.components)["db"].maintenance and [m.name for m in snap.maintenance] == ["db upgrade"]
    before = history.snapshot(db, at=at(-30 * 60))  # configured at -1:00, no state recorded yet
    assert {c.state for c in before.checks} == {"unknown"} and before.previous_change is None
    assert before.next_change.time == at(0)
    assert history.snapshot(db, at=at(-2 * H)).checks == []  # nothing configured yet
    one = history.snapshot(db, at=at(2 * H + 15 * 60), component="db")
    assert [c.id for c in one.checks] == ["db/x"] and one.previous_change.subject == "db/x"


def test_stepping_from_change_to_change(db):
    times, t = [], at(0)
    while (step := history.snapshot(db, at=t).next_change) is not None:
        times.append((step.time - at(0)).total_seconds())
        t = step.time
    assert times == [2 * H, 2 * H + 600, 2 * H + 1200, 2.5 * H, 5 * H, 7 * H, 10 * H, 11 * H]


def test_timeline_intervals(db):
    tl = history.timeline(db, start=at(H), end=at(3 * H), component="web")
    web = tl.components[0]
    assert [(i.start, i.end, i.state) for i in web.intervals] == [
        (at(H), at(2 * H), "up"), (at(2 * H), at(2.5 * H), "down"), (at(2.5 * H), at(3 * H), "up")]
    assert web.intervals[0].since == at(0)  # began before the window
    checks = by_id(tl.checks)
    assert set(checks) == {"web/a", "web/b", "web/old"}
    assert [(i.start, i.end, i.state) for i in checks["web/b"].intervals] == [
        (at(H), at(2 * H + 600), "up"), (at(2 * H + 600), at(2 * H + 1200), "down"),
        (at(2 * H + 1200), at(3 * H), "up")]
    later = history.timeline(db, start=at(5 * H), end=at(9 * H))
    assert [(i.start, i.end) for i in by_id(later.checks)["web/old"].intervals] == [(at(5 * H), at(6 * H))]
    assert [(m.start, m.end) for m in later.maintenance] == [(at(6 * H), at(8 * H))]
    cut = history.timeline(db, start=at(0), end=at(12 * H), limit=8)
    assert cut.truncated and cut.checks == []


def test_uptime_by_component_with_maintenance_left_out(db):
    up = history.uptime(db, start=at(0), end=at(24 * H), now=at(48 * H))
    web, dbc = by_id(up.entries)["web"], by_id(up.entries)["db"]
    assert (web.down_seconds, web.degraded_seconds, web.up_seconds) == (1800, 3600, 81000)
    assert web.availability == pytest.approx(100 * (86400 - 1800) / 86400)
    assert (web.incidents, web.mttr_seconds) == (2, (1800 + 3600) / 2)
    assert web.error_budget_seconds == pytest.approx(86.4)
    assert web.error_budget_remaining == pytest.approx((86.4 - 1800) / 86.4)
    # db is down 5:00-7:00, in maintenance 6:00-8:00: one hour of downtime counts
    assert (dbc.down_seconds, dbc.maintenance_seconds, dbc.measured_seconds) == (3600, 7200, 79200)
    assert dbc.availability == pytest.approx(100 * (79200 - 3600) / 79200)
    assert (dbc.incidents, dbc.mttr_seconds) == (1, 7200)
    # latency from the rollups: web/a's 720 runs, 30 down
    assert (web.runs, web.down_runs, web.degraded_runs) == (720, 30, 60)
    assert 0.0905 < web.latency_p50 < 0.128 and 1.4 < web.latency_p95 <= 2.0  # the bins of 0.1 s and 2 s
    custom = history.uptime(db, start=at(0), end=at(24 * H), now=at(48 * H), slo=lambda c: 95.0)
    assert by_id(custom.entries)["web"].slo == 95.0


def test_uptime_by_check_and_the_future_is_not_measured(db):
    up = by_id(history.uptime(db, start=at(0), end=at(48 * H), now=at(24 * H), by="check").entries)
    assert up["web/b"].down_seconds == 600 and up["web/b"].availability == pytest.approx(100 * 85800 / 86400)
    assert up["web/old"].measured_seconds == 6 * H  # until it was retired
    assert up["db/x"].maintenance_seconds == 7200
    assert up["web/a"].runs == 720 and up["web/b"].runs == 0 and up["web/b"].latency_p50 is None
    # a window starting inside an incident: its MTTR counts from the incident's true start
    mid = by_id(history.uptime(db, start=at(6 * H), end=at(12 * H), now=at(24 * H)).entries)
    assert (mid["db"].incidents, mid["db"].mttr_seconds, mid["db"].down_seconds) == (1, 7200, 0)


def test_incidents_whole_with_checks_and_reasons(db):
    found = history.incidents(db, start=at(0), end=at(24 * H), now=at(24 * H))
    assert [(i.component, i.start, i.end, i.worst) for i in found] == [
        ("web", at(10 * H), at(11 * H), "degraded"), ("db", at(5 * H), at(7 * H), "down"),
        ("web", at(2 * H), at(2.5 * H), "down")]
    outage = found[2]
    assert outage.checks == ["web/a", "web/b"] and outage.duration_seconds == 1800
    assert [(r.check_id, r.state, r.reason) for r in outage.reasons] == [
        ("web/a", "down", "HTTP 503"), ("web/b", "down", "connection refused")]
    assert found[1].maintenance_seconds == 3600 and found[0].maintenance_seconds == 0
    inside = history.incidents(db, start=at(2 * H + 1300), end=at(2 * H + 1400), now=at(24 * H))
    assert [(i.start, i.end, i.checks) for i in inside] == [(at(2 * H), at(2.5 * H), ["web/a", "web/b"])]
    ongoing = history.incidents(db, start=at(4 * H), end=at(6 * H), now=at(5.5 * H), component="db")
    assert [(i.end, i.ongoing, i.duration_seconds) for i in ongoing] == [(None, True, 1800)]
    tail = history.incidents(db, start=at(4 * H), end=at(6 * H), now=at(24 * H), component="db")
    assert [(i.start, i.end, i.ongoing) for i in tail] == [(at(5 * H), at(7 * H), False)]  # ends after `to`


def test_series_resolution_follows_the_range(db):
    now = at(12 * H + 60)
    raw = history.check_history(db, check_id="web/a", start=at(2 * H), end=at(3 * H), now=now)
    assert (raw.resolution, raw.step_seconds, len(raw.points)) == ("raw", None, 60)
    assert (raw.points[0].status, raw.points[0].latency, raw.points[-1].latency_p95) == ("down", 10.0, 0.1)
    assert [(i.start, i.state) for i in raw.states] == [(at(2 * H), "down"), (at(2.5 * H), "up")]
    grouped = history.check_history(db, check_id="web/a", start=at(0), end=at(12 * H), now=now, max_points=200)
    assert (grouped.resolution, grouped.step_seconds, len(grouped.points)) == ("raw", 300, 144)
    assert grouped.points[24].runs == 5 and grouped.points[24].down == 5  # 2:00-2:05
    later = at(20 * 24 * H)  # raw results expired: 5-minute rollups
    five = history.check_history(db, check_id="web/a", start=at(0), end=at(12 * H), now=later, max_points=200)
    assert (five.resolution, five.step_seconds) == ("5m", 300)
    assert [(p.runs, p.down) for p in five.points[24:26]] == [(5, 5), (5, 5)]
    hourly = history.check_history(db, check_id="web/a", start=at(-30 * 24 * H), end=at(24 * H), now=later)
    assert (hourly.resolution, hourly.step_seconds, len(hourly.points)) == ("1h", 3600, 12)
    assert hourly.points[2].down == 30
    long = history.check_history(db, check_id="web/a", start=at(-900 * 24 * H), end=at(24 * H), now=later,
                                 max_points=100, retention=Retention())
    assert (long.resolution, long.step_seconds, [p.runs for p in long.points]) == ("1d", 10 * 86400, [720])
    assert history.check_history(db, check_id="nope/x", start=at(0), end=at(H), now=now) is None
    retired = history.check_history(db, check_id="web/old", start=at(0), end=at(12 * H), now=now)
    assert retired.points == [] and [i.state for i in retired.states] == ["up"]


@pytest.mark.parametrize("max_points", [10, 37, 100])
def test_series_never_exceed_their_points(db, max_points):
    for now_offset in (12 * H + 60, 20 * 24 * H, 500 * 24 * H):
        for start, end in ((0, 12 * H), (1234, 7 * H + 17), (-40 * 24 * H, 24 * H), (-800 * 24 * H, 3 * H)):
            series = history.check_history(db, check_id="web/a", start=at(start), end=at(end), now=at(now_offset),
                                           max_points=max_points)
            assert 0 < len(series.points) <= max_points, (series.resolution, series.step_seconds, start, end)
            assert sum(p.runs for p in series.points) <= 720


def test_overview(db):
    over = history.overview(db, now=at(12 * H), days=3, slo=lambda c: 99.0)
    comps = by_id(over.components)
    assert set(comps) == {"web", "db"}  # current components only
    web = comps["web"]
    assert (web.state, web.since, web.checks, web.slo) == ("up", at(11 * H), {"up": 2}, 99.0)
    assert over.day_starts == [at(-48 * H), at(-24 * H), at(0)]
    daily = web.daily
    # configured at -1:00, first judged at 0:00: no data the day before, an hour unknown on the eve
    assert (daily.down_seconds, daily.degraded_seconds, daily.worst, daily.incidents) == (
        [0, 0, 1800], [0, 0, 3600], [None, "unknown", "down"], [0, 0, 2])
    assert daily.availability[:2] == [None, None]
    assert daily.availability[2] == pytest.approx(100 * (12 * H - 1800) / (12 * H))
    assert web.availability == daily.availability[2]  # nothing measured before
    assert comps["db"].daily.maintenance_seconds[-1] == 7200 and not comps["db"].maintenance
    assert comps["db"].daily.incidents[-1] == 1 and comps["db"].daily.down_seconds[-1] == 3600
    json = over.model_dump_json()
    assert '"daily":{"availability":[null,null,' in json


def test_maintenance_windows_listing(db):
    with db.begin():
        maintenance.add_window(db, fields={"name": "weekly", "checks": ["web/*"], "recurrence": {
            "every": "week", "days": ["sunday"], "at": "01:00", "duration": 3600.0, "timezone": "UTC"},
            "starts_at": at(-7 * 24 * H)}, now=ts(0))
    windows = history.maintenance_windows(db, start=at(0), end=at(14 * 24 * H))
    assert [(w.name, w.every, len(w.occurrences)) for w in windows] == [("db upgrade", None, 1), ("weekly", "week", 2)]
    assert windows[1].occurrences[0].start == at(6 * 24 * H + H)  # Sunday 2026-03-08 01:00
    assert windows[0].duration_seconds == 7200
    up = by_id(history.uptime(db, start=at(6 * 24 * H), end=at(7 * 24 * H), now=at(30 * 24 * H), by="check").entries)
    assert up["web/a"].maintenance_seconds == 3600 and up["db/x"].maintenance_seconds == 0
    assert timedelta(seconds=up["web/a"].measured_seconds) == timedelta(hours=23)


DAY_MS = 86_400_000
ROUND = {1000 * s for s in (1, 2, 5, 10, 15, 30)} | {60_000 * m for m in (1, 2, 5, 10, 15, 30)} | {
    3_600_000 * h for h in (1, 2, 3, 6, 12)} | {DAY_MS * d for d in (1, 2, 5, 10, 15, 30, 60, 90, 180, 360)}


def test_round_steps_for_any_range():
    """Every range from an hour to 400 days, at odd offsets, for each grain and point budget:
    a round step, a multiple of the grain, at most `max_points` epoch-aligned steps, and the
    finest such (half of it, when round, would need too many)."""
    t0 = to_ms(at(0)) + 1234567  # not aligned on anything
    ranges = [3_600_000 * h for h in (1, 1.5, 7, 24, 31, 100)] + [DAY_MS * d for d in (2, 7, 30, 90, 365, 400)]
    ranges += [round(3_600_000 * 1.37 ** k) for k in range(26)]  # 1 h … ~400 days, uneven
    for span in ranges:
        for grain in (1000, 300_000, 3_600_000, DAY_MS):
            for max_points in (10, 37, 300, 1000):
                a, b = t0 + span // 7, t0 + span // 7 + span
                step = history.round_step(a, b, grain_ms=grain, max_points=max_points)
                assert step in ROUND and step % grain == 0, (span, grain, max_points, step)
                touched = (b - 1) // step - a // step + 1
                assert touched <= max_points, (span, grain, max_points, step)
                finer = [s for s in ROUND if grain <= s < step and s % grain == 0]
                assert all((b - 1) // s - a // s + 1 > max_points for s in finer), (span, grain, max_points)
    # beyond the last round step: its multiples
    assert history.round_step(0, 5000 * DAY_MS, grain_ms=DAY_MS, max_points=10) == 720 * DAY_MS
    with pytest.raises(ValueError, match="at least 2"):
        history.round_step(0, 10, grain_ms=1000, max_points=1)


@pytest.mark.parametrize("max_points", [10, 37, 300])
def test_series_points_are_round_and_aligned(db, max_points):
    for now_offset in (12 * H + 60, 20 * 24 * H, 500 * 24 * H):
        for start, end in ((0, 12 * H), (1234, 7 * H + 17), (H - 77, 2 * H), (-3 * 24 * H, 11 * H + 1),
                           (-40 * 24 * H, 24 * H), (-400 * 24 * H, 3 * H)):
            series = history.check_history(db, check_id="web/a", start=at(start), end=at(end), now=at(now_offset),
                                           max_points=max_points)
            assert len(series.points) <= max_points
            if series.step_seconds is None:  # one point per raw result
                continue
            step = round(series.step_seconds * 1000)
            assert step in ROUND, (series.resolution, step, start, end)
            assert all(to_ms(p.time) % step == 0 for p in series.points), (series.resolution, step)
            if series.resolution == "raw":  # grouped, not cut: every run in the range counted once
                runs = sum(1 for k in range(720) if start <= k * 60 < end)
                assert sum(p.runs for p in series.points) == runs
