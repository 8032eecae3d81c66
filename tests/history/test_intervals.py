"""Interval arithmetic (spans, time per state with maintenance left out, incidents, per-day
splits) and maintenance window occurrences, recurring ones across a DST change included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.intervals import StateTimes, incidents_of, merge_spans, overlap, piece_figures, spans_from, split
from storage.maintenance import MaintenanceIndex, occurrences
from storage.rollup_models import MaintenanceRow

MIN = 60_000


def test_spans_from_initial_state_and_changes():
    spans = spans_from(("up", -5, "ok"), [(10, "down", "503"), (20, "down", "again"), (30, "up", "ok"), (99, "x", "")],
                       0, 50)
    assert [(s.start, s.end, s.state, s.since, s.reason) for s in spans] == [
        (0, 10, "up", -5, "ok"), (10, 30, "down", 10, "503"), (30, 50, "up", 30, "ok")]



def test_spans_from_begin_when_the_subject_existed():
    def spans(*args, **kw):
        return [(s.start, s.end, s.state, s.since) for s in spans_from(*args, **kw)]

    # nothing recorded and no known origin: no data at all, not `unknown`
    assert spans(None, [], 0, 5) == []
    assert spans(None, [(20, "up", "ok"), (30, "down", "x")], 0, 50) == [(20, 30, "up", 20), (30, 50, "down", 30)]
    # configured at 10, first judged at 20: unknown in between (a real gap), nothing before
    assert spans(None, [(20, "up", "ok")], 0, 50, origin=10) == [(10, 20, "unknown", None), (20, 50, "up", 20)]
    assert spans(None, [], 0, 50, origin=10) == [(10, 50, "unknown", None)]  # never judged since
    assert spans(None, [], 0, 50, origin=-10) == [(0, 50, "unknown", None)]  # existed before the window
    assert spans(None, [], 0, 50, origin=50) == []  # came to exist after it
    # history recorded before the origin (imported, clock skew): the recorded state wins
    assert spans(None, [(5, "up", ""), (30, "down", "")], 0, 50, origin=10) == [(5, 30, "up", 5), (30, 50, "down", 30)]
    assert spans(None, [(10, "unknown", "")], 0, 50, origin=10) == [(10, 50, "unknown", 10)]
    # a state recorded by `start` means the subject existed: the origin plays no part
    assert spans(("up", -5, ""), [], 0, 50, origin=30) == [(0, 50, "up", -5)]
    # a genuine unknown after the subject existed stays unknown
    assert spans(None, [(10, "up", ""), (20, "unknown", ""), (30, "up", "")], 0, 50, origin=10) == [
        (10, 20, "up", 10), (20, 30, "unknown", 20), (30, 50, "up", 30)]


def test_no_data_is_neither_measured_nor_unknown():
    spans = spans_from(None, [(40, "up", ""), (70, "down", ""), (80, "unknown", "")], 0, 100, origin=30)
    times = StateTimes.of(spans, [])
    assert times.by_state == {"unknown": 10 + 20, "up": 30, "down": 10, "degraded": 0}
    assert times.measured == 40 and times.availability == 75.0
    fig = piece_figures(spans, [0, 25, 50, 75, 100], [])
    assert [fig.worst(i) for i in range(4)] == [None, "up", "down", "down"]  # 0-25: before it existed
    assert (fig.up, fig.unknown, fig.down) == ([0, 10, 20, 0], [0, 10, 0, 20], [0, 0, 5, 5])
    assert fig.availability(0) is None and fig.incidents == [0, 0, 1, 1]
    assert StateTimes.of([], []).worst() is None and StateTimes.of([], []).availability is None


def test_time_per_state_leaves_maintenance_and_unknown_out():
    spans = spans_from(("unknown", None, ""), [(10, "up", ""), (40, "down", ""), (60, "degraded", ""),
                                               (70, "up", "")], 0, 100)
    maint = merge_spans([(50, 65), (55, 58), (90, 200)])
    assert maint == [(50, 65), (90, 200)]
    times = StateTimes.of(spans, maint)
    assert times.by_state == {"unknown": 10, "up": 30 + 20, "down": 10, "degraded": 5}
    assert times.maintenance == 15 + 10
    assert times.measured == 65
    assert times.availability == 100.0 * 55 / 65  # degraded counts as available
    allowed, left = times.error_budget(90.0)
    assert allowed == pytest.approx(6.5) and left == pytest.approx((6.5 - 10) / 6.5)
    assert times.worst() == "down"
    assert StateTimes.of(spans_from(("unknown", None, ""), [], 0, 9), []).worst() == "unknown"
    assert overlap(0, 100, maint) == 25


def test_incidents_group_not_up_spans():
    spans = spans_from(("up", 0, ""), [(10, "degraded", ""), (15, "down", ""), (20, "degraded", ""), (25, "up", ""),
                                       (30, "down", ""), (35, "unknown", ""), (40, "down", "")], 0, 50)
    found = [(i.start, i.end, i.worst) for i in incidents_of(spans)]
    assert found == [(10, 25, "down"), (30, 35, "down"), (40, 50, "down")]  # unknown ends an incident


def test_figures_per_day():
    spans = spans_from(("up", 0, ""), [(15, "down", ""), (25, "degraded", ""), (35, "up", ""), (42, "down", ""),
                                       (44, "up", "")], 0, 50)
    fig = piece_figures(spans, [0, 10, 20, 30, 40, 50], [(41, 46)])
    assert (fig.up, fig.degraded, fig.down, fig.maintenance) == (
        [10, 5, 0, 5, 1 + 4], [0, 0, 5, 5, 0], [0, 5, 5, 0, 0], [0, 0, 0, 0, 5])
    assert fig.incidents == [0, 1, 1, 1, 0]  # 15-35 spans three pieces; 42-44 lies wholly in maintenance
    assert [fig.worst(i) for i in range(5)] == ["up", "down", "down", "degraded", "up"]
    assert fig.availability(1) == 50.0 and fig.availability(4) == 100.0


def test_split_cuts_spans_at_day_edges():
    spans = spans_from(("up", 0, ""), [(15, "down", ""), (35, "up", "")], 0, 50)
    pieces = split(spans, [0, 10, 20, 30, 40, 50])
    assert [[(s.start, s.end, s.state) for s in p] for p in pieces] == [
        [(0, 10, "up")], [(10, 15, "up"), (15, 20, "down")], [(20, 30, "down")],
        [(30, 35, "down"), (35, 40, "up")], [(40, 50, "up")]]


def window(**kw) -> MaintenanceRow:
    base = {"id": 1, "source": "api", "name": "w", "reason": "", "components": [], "checks": [], "starts_at": None,
            "ends_at": None, "recurrence": None, "created_at": datetime(2020, 1, 1, tzinfo=UTC), "retired_at": None}
    return MaintenanceRow(**{**base, **kw})


def ms(*args) -> int:
    return round(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_one_off_window():
    w = window(starts_at=datetime(2026, 3, 1, 2, tzinfo=UTC), ends_at=datetime(2026, 3, 1, 4, tzinfo=UTC))
    assert occurrences(w, ms(2026, 3, 1), ms(2026, 3, 2)) == [(ms(2026, 3, 1, 2), ms(2026, 3, 1, 4))]
    assert occurrences(w, ms(2026, 3, 1, 4), ms(2026, 3, 2)) == []


def test_weekly_window_in_local_time_across_the_spring_dst_change():
    w = window(recurrence={"every": "week", "days": ["sunday"], "at": "03:30", "duration": 3600,
                           "timezone": "Europe/Paris"})
    found = occurrences(w, ms(2026, 3, 20), ms(2026, 4, 6))
    # 03:30 CET = 02:30 UTC; from March 29 on, 03:30 CEST = 01:30 UTC
    assert found == [(ms(2026, 3, 22, 2, 30), ms(2026, 3, 22, 3, 30)), (ms(2026, 3, 29, 1, 30), ms(2026, 3, 29, 2, 30)),
                     (ms(2026, 4, 5, 1, 30), ms(2026, 4, 5, 2, 30))]


def test_monthly_daily_and_bounded_windows():
    monthly = window(recurrence={"every": "month", "days": [1, 15], "at": "00:00", "duration": 600, "timezone": "UTC"})
    assert [a for a, _ in occurrences(monthly, ms(2026, 1, 1), ms(2026, 3, 1))] == [
        ms(2026, 1, 1), ms(2026, 1, 15), ms(2026, 2, 1), ms(2026, 2, 15)]
    daily = window(recurrence={"every": "day", "days": [], "at": "23:30", "duration": 3600, "timezone": "UTC"},
                   created_at=datetime(2026, 1, 3, 12, tzinfo=UTC), retired_at=datetime(2026, 1, 5, 23, 40, tzinfo=UTC))
    # not before it was stored (no `start`), none begun after its retirement; one overlapping the range's start
    assert occurrences(daily, ms(2026, 1, 1), ms(2026, 1, 9)) == [
        (ms(2026, 1, 3, 23, 30), ms(2026, 1, 4, 0, 30)), (ms(2026, 1, 4, 23, 30), ms(2026, 1, 5, 0, 30)),
        (ms(2026, 1, 5, 23, 30), ms(2026, 1, 6, 0, 30))]
    assert occurrences(daily, ms(2026, 1, 4, 0, 10), ms(2026, 1, 4, 0, 20)) == [
        (ms(2026, 1, 3, 23, 30), ms(2026, 1, 4, 0, 30))]
    explicit = window(recurrence=daily.recurrence, starts_at=datetime(2025, 12, 31, tzinfo=UTC),
                      ends_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert [a for a, _ in occurrences(explicit, ms(2025, 12, 1), ms(2026, 2, 1))] == [
        ms(2025, 12, 31, 23, 30), ms(2026, 1, 1, 23, 30)]


def test_index_answers_per_component_and_check_by_pattern():
    a = window(id=1, components=["cluster-*"], starts_at=datetime(2026, 1, 1, 1, tzinfo=UTC),
               ends_at=datetime(2026, 1, 1, 3, tzinfo=UTC))
    b = window(id=2, checks=["paas/api-*"], starts_at=datetime(2026, 1, 1, 2, tzinfo=UTC),
               ends_at=datetime(2026, 1, 1, 5, tzinfo=UTC))
    index = MaintenanceIndex([a, b], ms(2026, 1, 1), ms(2026, 1, 1, 4))
    assert index.for_component("cluster-a/control-plane") == [(ms(2026, 1, 1, 1), ms(2026, 1, 1, 3))]
    assert index.for_component("paas") == []
    assert index.for_check("paas/api-health", "paas") == [(ms(2026, 1, 1, 2), ms(2026, 1, 1, 4))]  # clipped
    assert index.for_check("cluster-a/control-plane/etcd", "cluster-a/control-plane") == [
        (ms(2026, 1, 1, 1), ms(2026, 1, 1, 3))]
    assert [w.id for w in index.open_at(ms(2026, 1, 1, 2, 30))] == [1, 2]
    assert [(w.id, e) for w, _, e in index.occurring()] == [(1, ms(2026, 1, 1, 3)), (2, ms(2026, 1, 1, 5))]
