"""The UI's widgets over the history backend on all three databases: the replay's snapshot and
its nearest changes, uptime bars (maintenance left out), incidents with what was alerted, the
change list, and timelines marking maintenance windows."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from dashboards import widgets
from storage import maintenance
from storage.alert_models import AlertEventRow, AlertOutboxRow
from storage.db import create_db_engine
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
            snap = widgets.snapshot(s, at=during)
            assert {c["id"]: (c["status"], c["reason"]) for c in snap["checks"]} == {
                "paas/api": ("down", "connection refused"), "registry/old-mirror": ("up", "HTTP 200"),
                "registry/port": ("up", "HTTP 200")}
            assert {c["name"]: (c["status"], c["counts"]) for c in snap["components"]} == {
                "paas": ("down", {"down": 1}), "registry": ("up", {"up": 2})}
            assert abs(datetime.fromisoformat(snap["next_change"]).timestamp() - seeded.outage_end) < 0.002
            assert abs(datetime.fromisoformat(snap["previous_change"]).timestamp() - seeded.outage_start) < 0.002
            assert "registry/old-mirror" not in {c["id"] for c in widgets.snapshot(s, at=now)["checks"]}
            before = widgets.snapshot(s, at=seeded.first_seen - 1)
            assert before["checks"] == [] and before["previous_change"] is None
            assert widgets.snapshot(s, at=now)["next_change"] is None

            changes = widgets.platform_changes(s, start=seeded.outage_start - HOUR, end=now)["changes"]
            assert [(c["kind"], c["subject"], c["new"]) for c in changes] == [
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
            bars = widgets.uptime_bars(s, kind="component", names=["paas", "registry", "nowhere"], now=now)
            paas = bars["series"]["paas"]
            assert len(paas) == 90 and paas[-1]["date"] == dt(now).date().isoformat()
            assert sum(d["seconds"].get("down", 0) for d in paas) == pytest.approx(HOUR, abs=0.01)
            assert sum(d["seconds"].get("maintenance", 0) for d in paas) == pytest.approx(HOUR, abs=0.01)
            # before the catalogue (ten days ago) there is no data: not unknown, not measured
            assert [d["worst"] for d in paas[:79]] == ["nodata"] * 79 and all(d["uptime"] is None for d in paas[:79])
            assert all(d["seconds"] == {} for d in paas[:79])
            assert "nodata" not in {d["worst"] for d in paas[79:]} and paas[79]["uptime"] == 1.0
            # registry could not be judged for two days: a genuine gap, still shown as unknown
            registry = bars["series"]["registry"]
            gap_day = registry[89 - 5]
            assert (gap_day["worst"], gap_day["uptime"], gap_day["seconds"]) == ("unknown", None, {"unknown": DAY})
            assert sum(d["seconds"].get("unknown", 0) for d in registry) == pytest.approx(2 * DAY, abs=0.01)
            assert [d["worst"] for d in registry[:79]] == ["nodata"] * 79
            assert bars["uptime"]["paas"] == pytest.approx(1 - HOUR / (10 * DAY - HOUR), abs=1e-5)
            assert bars["uptime"]["registry"] == 1.0 and bars["uptime"]["nowhere"] is None
            check_bars = widgets.uptime_bars(s, kind="check", names=["paas/api", "registry/port", "nope"], now=now)
            assert check_bars["uptime"]["paas/api"] == bars["uptime"]["paas"] and "nope" not in check_bars["series"]
            assert [d["worst"] for d in check_bars["series"]["registry/port"]] == [d["worst"] for d in registry]

            found = widgets.incident_list(s, start=now - 7 * DAY, end=now, now=now)
            assert [(i.component, i.worst, i.checks, i.reason) for i in found] == [
                ("paas", "down", ["paas/api"], "connection refused")]
            assert found[0].start == pytest.approx(seeded.outage_start, abs=0.002)
            assert found[0].end == pytest.approx(seeded.outage_end, abs=0.002)
            assert found[0].maintenance == pytest.approx(HOUR, abs=0.01)
            assert [(a["type"], a["subject"], a["receivers"]) for a in found[0].alerts] == [
                ("firing", "paas/api", [{"name": "ops-mail", "outcome": "delivered"}]),
                ("resolved", "paas/api", [{"name": "ops-mail", "outcome": "delivered"}])]
            inside = widgets.incident_list(s, start=seeded.outage_start + HOUR, end=now, now=now, alerts=False)
            assert inside[0].start == pytest.approx(seeded.outage_start, abs=0.002) and inside[0].alerts == []

            coming = widgets.maintenance_list(s, now=now)
            assert [(w["name"], w["active"]) for w in coming] == [("db upgrade", False)]
            assert widgets.maintenance_list(s, now=now, component="paas") == []
            assert widgets.maintenance_list(s, now=now, check_id="registry/port")[0]["name"] == "db upgrade"

            fig = json.loads(widgets.timeline_figure(s, start=now - 3 * DAY, end=now, component="paas",
                                                     check_ids=["paas/api"]).to_json())
            assert [t["name"] for t in fig["data"] if t["name"] == "maintenance"] == ["maintenance"]
            assert "router swap" in json.dumps(fig["data"]) and "internal ticket" not in json.dumps(fig)
            other = json.loads(widgets.timeline_figure(s, start=now - 3 * DAY, end=now, component="registry",
                                                       check_ids=["registry/port"]).to_json())
            assert "maintenance" not in [t["name"] for t in other["data"]]
            # a timeline reaching before the catalogue invents nothing there: its bars begin at first_seen
            fig = json.loads(widgets.timeline_figure(s, start=now - 12 * DAY, end=now, component="registry",
                                                     check_ids=["registry/port"]).to_json())
            traces = {t["name"]: t for t in fig["data"]}
            starts = sorted(datetime.fromisoformat(b).replace(tzinfo=UTC).timestamp()
                            for t in traces.values() for b in t.get("base") or [])
            assert starts[0] == pytest.approx(seeded.first_seen, abs=0.002)
            assert len(traces["unknown"]["x"]) == 2  # the registry row and registry/port: the gap only
    finally:
        engine.dispose()
