"""No data vs unknown, on SQLite, PostgreSQL and MariaDB: time before a component or check existed
has no state at all (no interval, not measured, not unknown, a null day), while time it existed
without a judgement (before its first result, or its dependency unreachable) stays `unknown`.

A component `k8s` (one check, k8s/nodes) configured ten days before today at 06:00, first judged
up 30 s later; unknown for 48 h from TODAY-4d 12:00 ("apiserver unreachable"); down one hour
TODAY-1d 03:00-04:00. A component `web` (web/a) configured 200 days ago, up all along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from storage import history, queries
from storage.uptime import daily_by_check
from storage.writer import Writer

TODAY = datetime(2026, 5, 20, tzinfo=UTC)
NOW = TODAY + timedelta(hours=12)
H = 3600.0
DAY = 86400.0
CREATED = TODAY - timedelta(days=10) + timedelta(hours=6)
JUDGED = CREATED + timedelta(seconds=30)
GAP = (TODAY - timedelta(days=4) + timedelta(hours=12), TODAY - timedelta(days=2) + timedelta(hours=12))
OUTAGE = (TODAY - timedelta(days=1) + timedelta(hours=3), TODAY - timedelta(days=1) + timedelta(hours=4))


def _sync(engine, checks: dict[str, str], when: datetime) -> None:
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": cid, "component": comp, "name": cid.split("/")[1], "kind": "http",
                                        "settings": {}} for cid, comp in checks.items()], now=when.timestamp())


@pytest.fixture
def db(any_db):
    _sync(any_db, {"web/a": "web"}, TODAY - timedelta(days=200))
    _sync(any_db, {"web/a": "web", "k8s/nodes": "k8s"}, CREATED)
    writer = Writer(any_db)
    old = TODAY - timedelta(days=200) + timedelta(seconds=5)
    for kind, subject in (("check", "web/a"), ("component", "web")):
        writer.put_change(kind, subject, old.timestamp(), "unknown", "up", "HTTP 200")
    steps = [(JUDGED, "unknown", "up", "Ready"), (GAP[0], "up", "unknown", "apiserver unreachable: refused"),
             (GAP[1], "unknown", "up", "Ready"), (OUTAGE[0], "up", "down", "NotReady"),
             (OUTAGE[1], "down", "up", "Ready")]
    for when, was, new, reason in steps:
        writer.put_change("check", "k8s/nodes", when.timestamp(), was, new, reason)
        writer.put_change("component", "k8s", when.timestamp(), was, new, f"k8s/nodes: {reason}")
    writer.flush()
    with Session(any_db) as session:
        yield session


def day_index(when: datetime) -> int:
    """Index of `when`'s day among the 90 days ending today."""
    return 89 - (TODAY - when.replace(hour=0, minute=0, second=0, microsecond=0)).days


def test_daily_bars_have_no_data_before_the_component_existed(db):
    over = {c.id: c for c in history.overview(db, now=NOW, days=90).components}
    k8s, web = over["k8s"].daily, over["web"].daily
    first = day_index(CREATED)
    assert first == 79
    assert k8s.worst[:first] == [None] * first and k8s.availability[:first] == [None] * first
    expected = ["up"] * 11
    expected[day_index(GAP[0] + timedelta(days=1)) - first] = "unknown"  # wholly unknown: still shown so
    expected[day_index(OUTAGE[0]) - first] = "down"
    assert k8s.worst[first:] == expected
    assert k8s.availability[day_index(GAP[0]) + 1] is None  # unknown all day: nothing measured
    assert k8s.availability[first] == 100.0  # 30 s unknown, then up: the day counts from its creation
    unknown = [0.0] * 90
    unknown[first], unknown[day_index(GAP[0])], unknown[day_index(GAP[0]) + 1], unknown[day_index(GAP[1])] = (
        30.0, 12 * H, DAY, 12 * H)
    assert k8s.unknown_seconds == unknown
    assert web.worst == ["up"] * 90
    # over 90 days only the time since it existed is measured (the unknown 48 h and 30 s are not)
    measured = (NOW - JUDGED).total_seconds() - 2 * DAY
    assert over["k8s"].availability == pytest.approx(100 * (measured - H) / measured)
    assert '"worst":[null,null,' in over["k8s"].model_dump_json()


def test_uptime_counts_only_the_time_the_subject_existed(db):
    start = TODAY - timedelta(days=89)
    for by, name in (("component", "k8s"), ("check", "k8s/nodes")):
        entry = {e.id: e for e in history.uptime(db, start=start, end=NOW, now=NOW, by=by).entries}[name]
        assert entry.unknown_seconds == pytest.approx(2 * DAY + 30)  # the gap and the wait for a first result
        assert entry.measured_seconds == pytest.approx((NOW - JUDGED).total_seconds() - 2 * DAY)
        assert entry.down_seconds == H and entry.incidents == 1
        assert entry.error_budget_seconds == pytest.approx(0.001 * entry.measured_seconds)
    web = {e.id: e for e in history.uptime(db, start=start, end=NOW, now=NOW).entries}["web"]
    assert web.measured_seconds == (NOW - start).total_seconds() and web.unknown_seconds == 0
    # a window wholly before k8s existed: not listed at all
    before = history.uptime(db, start=TODAY - timedelta(days=30), end=TODAY - timedelta(days=20), now=NOW)
    assert [e.id for e in before.entries] == ["web"]
    # daily figures per check agree with the component's
    availability, daily = daily_by_check(db, check_ids=["k8s/nodes"], now=NOW)["k8s/nodes"]
    assert daily.worst == history.overview(db, now=NOW).components[0].daily.worst
    assert availability == pytest.approx({c.id: c for c in history.overview(db, now=NOW).components}["k8s"]
                                         .availability)


def test_intervals_begin_when_the_subject_existed(db):
    start, end = TODAY - timedelta(days=12), TODAY - timedelta(days=8)
    tl = history.timeline(db, start=start, end=end, component="k8s")
    for subject in (tl.components[0], tl.checks[0]):
        assert [(i.start, i.end, i.state) for i in subject.intervals] == [
            (CREATED, JUDGED, "unknown"), (JUDGED, end, "up")]  # nothing invented before CREATED
    series = history.check_history(db, check_id="k8s/nodes", start=start, end=NOW, now=NOW)
    assert [(i.start, i.state) for i in series.states] == [
        (CREATED, "unknown"), (JUDGED, "up"), (GAP[0], "unknown"), (GAP[1], "up"), (OUTAGE[0], "down"),
        (OUTAGE[1], "up")]
    assert series.states[2].reason == "apiserver unreachable: refused"
    assert history.timeline(db, start=start, end=CREATED, component="k8s").components == []


def test_snapshot_before_and_after_the_check_existed(db):
    before = history.snapshot(db, at=CREATED - timedelta(hours=1))
    assert [c.id for c in before.checks] == ["web/a"] and [c.id for c in before.components] == ["web"]
    waiting = history.snapshot(db, at=CREATED + timedelta(seconds=10), component="k8s")
    check, comp = waiting.checks[0], waiting.components[0]
    assert (check.state, check.since, check.change) == ("unknown", None, None)  # configured, not judged yet
    assert (comp.state, comp.checks) == ("unknown", {"unknown": 1})
    gap = history.snapshot(db, at=GAP[0] + timedelta(days=1), component="k8s").checks[0]
    assert (gap.state, gap.since, gap.reason) == ("unknown", GAP[0], "apiserver unreachable: refused")
