"""What the UI's widgets read, over the history backend on all three databases, through the reads
/api/v1 serves: the replay's snapshot and its nearest changes (/snapshot), the change list
(/changes), daily uptime bars with maintenance left out (/overview, /checks/{id}/daily), incidents
with what was alerted (/incidents?alerts=true), coming maintenance (/maintenance?component=&check=),
and the server-drawn timelines marking maintenance windows (dashboards.charts)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from dashboards import charts
from monitor.api.history import get_incidents, list_maintenance
from storage import history, maintenance
from storage.alert_models import AlertEventRow, AlertOutboxRow
from storage.db import create_db_engine, upgrade
from storage.models import CheckRow, ComponentChangeRow, StateChangeRow
from tests.ui.seed import DAY, HOUR, seed_history

CHECKS = {"paas/api": ("paas", "api", "http"), "registry/port": ("registry", "port", "tcp")}



def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_snapshot_and_the_nearest_changes(any_db_url):
    now = time.time()
    seeded = seed_history(any_db_url, now=now, checks=CHECKS)
    engine = create_db_engine(any_db_url)
    try:
        with Session(engine) as s:
            during = seeded.outage_start + HOUR
            snap = history.snapshot(s, at=dt(during))
            assert {c.id: (c.state, c.reason) for c in snap.checks} == {
                "paas/api": ("down", "connection refused"), "registry/old-mirror": ("up", "HTTP 200"),
                "registry/port": ("up", "HTTP 200")}
            assert {c.id: (c.state, c.checks) for c in snap.components} == {
                "paas": ("down", {"down": 1}), "registry": ("up", {"up": 2})}
            assert abs(snap.next_change.time.timestamp() - seeded.outage_end) < 0.002
            assert abs(snap.previous_change.time.timestamp() - seeded.outage_start) < 0.002
            assert "registry/old-mirror" not in {c.id for c in history.snapshot(s, at=dt(now)).checks}
            before = history.snapshot(s, at=dt(seeded.first_seen - 1))
            assert before.checks == [] and before.previous_change is None
            assert history.snapshot(s, at=dt(now)).next_change is None

            found = history.changes(s, start=dt(seeded.outage_start - HOUR), end=dt(now))
            assert not found.truncated
            assert [(c.kind, c.subject, c.new) for c in found.changes] == [
                ("check", "paas/api", "up"), ("component", "paas", "up"),
                ("check", "paas/api", "down"), ("component", "paas", "down")]
    finally:
        engine.dispose()


def test_uptime_bars_incidents_alerts_and_maintenance(any_db_url):
    now = time.time()
    seeded = seed_history(any_db_url, now=now, checks=CHECKS)
    engine = create_db_engine(any_db_url)
    try:
        with Session(engine) as s, s.begin():
            # the first hour of the outage was announced maintenance; one window is coming
            maintenance.add_window(s, now=now, fields={
                "name": "router swap", "reason": "internal ticket 42", "components": ["paas"], "checks": [],
                "starts_at": dt(seeded.outage_start), "ends_at": dt(seeded.outage_start + HOUR)})
            maintenance.add_window(s, now=now, fields={
                "name": "db upgrade", "reason": "", "components": ["registry"], "checks": [],
                "starts_at": dt(now + HOUR), "ends_at": dt(now + 2 * HOUR)})
            fired, resolved = seeded.outage_start + 60, seeded.outage_end + 30
            for event_id, kind, at in (("e1", "firing", fired), ("e2", "resolved", resolved)):
                s.add(AlertEventRow(event_id=event_id, key="check:paas/api", type=kind, at=dt(at),
                                    suppressed_by=None, receivers=["ops-mail"], payload={}))
                s.add(AlertOutboxRow(event_id=event_id, receiver="ops-mail", key="check:paas/api",
                                     created_at=dt(at), attempts=1, next_attempt_at=dt(at), outcome="delivered",
                                     delivered_at=dt(at), updated_at=dt(at)))
            s.add(AlertEventRow(event_id="e3", key="check:registry/port", type="firing", at=dt(fired),
                                suppressed_by=None, receivers=["ops-mail"], payload={}))
        with Session(engine) as s:
            overview = {c.id: c for c in history.overview(s, now=dt(now), days=90).components}
            assert "nowhere" not in overview
            paas = overview["paas"].daily
            assert len(paas.worst) == 90
            assert history.overview(s, now=dt(now), days=90).day_starts[-1].date() == dt(now).date()
            assert sum(paas.down_seconds) == pytest.approx(HOUR, abs=0.01)
            assert sum(paas.maintenance_seconds) == pytest.approx(HOUR, abs=0.01)
            # before the catalogue (ten days ago) there is no data: not unknown, not measured
            assert paas.worst[:79] == [None] * 79 and paas.availability[:79] == [None] * 79
            assert all(not any(series[i] for series in (paas.down_seconds, paas.degraded_seconds,
                                                         paas.unknown_seconds, paas.maintenance_seconds))
                       for i in range(79))
            assert None not in paas.worst[79:] and paas.availability[79] == 100.0
            # registry could not be judged for two days: a genuine gap, still shown as unknown
            registry = overview["registry"].daily
            gap = 89 - 5
            assert (registry.worst[gap], registry.availability[gap], registry.unknown_seconds[gap],
                    registry.down_seconds[gap]) == ("unknown", None, DAY, 0)
            assert sum(registry.unknown_seconds) == pytest.approx(2 * DAY, abs=0.01)
            assert registry.worst[:79] == [None] * 79
            assert overview["paas"].availability / 100 == pytest.approx(1 - HOUR / (10 * DAY - HOUR), abs=1e-5)
            assert overview["registry"].availability == 100.0
            paas_api = history.check_daily(s, check_id="paas/api", now=dt(now), days=90)
            assert paas_api.availability == overview["paas"].availability and len(paas_api.day_starts) == 90
            assert history.check_daily(s, check_id="nope", now=dt(now)) is None
            port = history.check_daily(s, check_id="registry/port", now=dt(now), days=90)
            assert port.daily.worst == registry.worst

            found = get_incidents(s, from_=dt(now - 7 * DAY), to=dt(now), alerts=True)
            assert [(i.component, i.worst, i.checks, i.reasons[0].reason) for i in found] == [
                ("paas", "down", ["paas/api"], "connection refused")]
            assert found[0].start.timestamp() == pytest.approx(seeded.outage_start, abs=0.002)
            assert found[0].end.timestamp() == pytest.approx(seeded.outage_end, abs=0.002)
            assert found[0].maintenance_seconds == pytest.approx(HOUR, abs=0.01)
            assert [(a.type, a.subject, [r.model_dump() for r in a.receivers]) for a in found[0].alerts] == [
                ("firing", "paas/api", [{"name": "ops-mail", "outcome": "delivered"}]),
                ("resolved", "paas/api", [{"name": "ops-mail", "outcome": "delivered"}])]
            inside = get_incidents(s, from_=dt(seeded.outage_start + HOUR), to=dt(now))
            assert inside[0].start.timestamp() == pytest.approx(seeded.outage_start, abs=0.002)
            assert inside[0].alerts == []

            def coming(**kw):
                return [(o.name, o.start <= dt(now) < o.end)
                        for w in list_maintenance(s, from_=dt(now), to=dt(now + 7 * DAY), **kw) for o in w.occurrences]

            assert coming() == [("db upgrade", False)]
            assert coming(component="paas") == []
            assert coming(check="registry/port") == [("db upgrade", False)]

            fig = json.loads(charts.timeline_figure(s, start=dt(now - 3 * DAY), end=dt(now), component="paas",
                                                    check_ids=["paas/api"]).to_json())
            assert [t["name"] for t in fig["data"] if t["name"] == "maintenance"] == ["maintenance"]
            assert "router swap" in json.dumps(fig["data"]) and "internal ticket" not in json.dumps(fig)
            other = json.loads(charts.timeline_figure(s, start=dt(now - 3 * DAY), end=dt(now), component="registry",
                                                      check_ids=["registry/port"]).to_json())
            assert "maintenance" not in [t["name"] for t in other["data"]]
            # a timeline reaching before the catalogue invents nothing there: its bars begin at first_seen
            fig = json.loads(charts.timeline_figure(s, start=dt(now - 12 * DAY), end=dt(now), component="registry",
                                                    check_ids=["registry/port"]).to_json())
            traces = {t["name"]: t for t in fig["data"]}
            starts = sorted(datetime.fromisoformat(b).replace(tzinfo=UTC).timestamp()
                            for t in traces.values() for b in t.get("base") or [])
            assert starts[0] == pytest.approx(seeded.first_seen, abs=0.002)
            assert len(traces["unknown"]["x"]) == 2  # the registry row and registry/port: the gap only
    finally:
        engine.dispose()


def test_alerts_of_two_incidents_close_together_go_to_their_own_incident(any_db_url):
    """The resolved notification of an incident counts for it up to 5 minutes after its end, but a
    second incident starting 2 minutes later owns its own firing: nothing is listed twice or under
    the wrong incident (issue 14, item 3)."""
    now = time.time()
    engine = create_db_engine(any_db_url)
    start = now - 2 * HOUR
    first = (start + 600, start + 1200)   # down 10 min
    second = (first[1] + 120, first[1] + 720)  # again 2 min later, for 10 min
    try:
        upgrade(engine)
        with Session(engine) as s, s.begin():
            s.add(CheckRow(id="paas/api", component="paas", name="api", kind="http", settings={},
                           first_seen=dt(start), updated_at=dt(start), retired_at=None))
            changes = [(start, "unknown", "up"), (first[0], "up", "down"), (first[1], "down", "up"),
                       (second[0], "up", "down"), (second[1], "down", "up")]
            for at, old, new in changes:
                s.add(StateChangeRow(check_id="paas/api", ts=dt(at), old=old, new=new, reason=new))
                s.add(ComponentChangeRow(component="paas", ts=dt(at), old=old, new=new, reason=new))
            events = [("f1", "firing", first[0] + 5), ("r1", "resolved", first[1] + 2),
                      ("f2", "firing", second[0] + 3), ("r2", "resolved", second[1] + 1)]
            for event_id, kind, at in events:
                s.add(AlertEventRow(event_id=event_id, key="check:paas/api", type=kind, at=dt(at),
                                    suppressed_by=None, receivers=["ops-mail"], payload={}))
        with Session(engine) as s:
            found = sorted(get_incidents(s, from_=dt(start), to=dt(now), alerts=True), key=lambda i: i.start)
            assert [(i.start.timestamp(), i.end.timestamp()) for i in found] == [
                pytest.approx(first, abs=0.002), pytest.approx(second, abs=0.002)]
            assert [[(a.type, round(a.time.timestamp() - i.start.timestamp())) for a in i.alerts] for i in found] == [
                [("firing", 5), ("resolved", 602)], [("firing", 3), ("resolved", 601)]]
    finally:
        engine.dispose()
