"""The UI's history fallbacks on all three databases: state at an instant, the catalogue as it was,
the nearest change, and the widgets built on them (snapshot, uptime bars, incidents)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from dashboards import widgets
from storage import history_fallback as fb
from storage.db import create_db_engine
from tests.ui.seed import DAY, HOUR, seed_history

CHECKS = {"paas/api": ("paas", "api", "http"), "registry/port": ("registry", "port", "tcp")}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pm.db'}"
    return request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_state_at_an_instant_and_the_nearest_changes(db_url):
    now = time.time()
    seeded = seed_history(db_url, now=now, checks=CHECKS)
    engine = create_db_engine(db_url)
    try:
        with Session(engine) as s:
            during = seeded.outage_start + HOUR
            states = fb.check_states_at(s, at=dt(during))
            assert states["paas/api"][0] == "down" and states["paas/api"][2] == "connection refused"
            assert abs(states["paas/api"][1].timestamp() - seeded.outage_start) < 0.002
            assert states["registry/port"][0] == "up"
            assert fb.check_states_at(s, at=dt(seeded.outage_end))["paas/api"][0] == "up"  # at the change: new state
            assert fb.check_states_at(s, at=dt(seeded.first_seen - 1)) == {}
            assert fb.component_states_at(s, at=dt(during), components=["paas"]) == {
                "paas": ("down", fb.component_states_at(s, at=dt(during))["paas"][1], "paas/api: connection refused")}

            ids_then = [r.id for r in fb.check_catalog(s, at=dt(seeded.retired_at - 1))]
            ids_now = [r.id for r in fb.check_catalog(s, at=dt(now))]
            assert "registry/old-mirror" in ids_then and "registry/old-mirror" not in ids_now
            assert fb.check_catalog(s, at=dt(seeded.first_seen - 1)) == []

            nxt = fb.neighbour_change(s, at=dt(during), direction="next")
            prev = fb.neighbour_change(s, at=dt(during), direction="previous")
            assert abs(nxt.timestamp() - seeded.outage_end) < 0.002
            assert abs(prev.timestamp() - seeded.outage_start) < 0.002
            assert fb.neighbour_change(s, at=dt(seeded.first_seen), direction="previous") is None
            assert fb.neighbour_change(s, at=dt(now), direction="next") is None
    finally:
        engine.dispose()


def test_widgets_from_state_changes(db_url):
    now = time.time()
    seeded = seed_history(db_url, now=now, checks=CHECKS)
    engine = create_db_engine(db_url)
    try:
        with Session(engine) as s:
            snap = widgets.snapshot(s, at=seeded.outage_start + HOUR)
            assert {c["id"]: c["status"] for c in snap["checks"]} == {
                "paas/api": "down", "registry/old-mirror": "up", "registry/port": "up"}
            assert {c["name"]: (c["status"], c["counts"]) for c in snap["components"]} == {
                "paas": ("down", {"down": 1}), "registry": ("up", {"up": 2})}

            bars = widgets.uptime_bars(s, kind="component", names=["paas", "registry", "nowhere"], now=now)
            paas = bars["series"]["paas"]
            assert len(paas) == 90 and paas[-1]["date"] == dt(now).date().isoformat()
            outage_days = [d for d in paas if d["seconds"].get("down")]
            assert sum(d["seconds"]["down"] for d in outage_days) == pytest.approx(2 * HOUR, abs=0.01)
            assert all(d["worst"] == "nodata" and d["uptime"] is None for d in paas[:79])
            assert bars["uptime"]["paas"] == pytest.approx(1 - 2 * HOUR / (10 * DAY), abs=1e-5)
            assert bars["uptime"]["registry"] == 1.0 and bars["uptime"]["nowhere"] is None

            found = widgets.incident_list(s, start=now - 7 * DAY, end=now, now=now)
            assert [(i.component, i.worst, i.checks) for i in found] == [("paas", "down", ["paas/api"])]
            assert found[0].start == pytest.approx(seeded.outage_start, abs=0.002)
            assert found[0].end == pytest.approx(seeded.outage_end, abs=0.002)
            # a range that starts inside the outage still reports the incident's true start
            inside = widgets.incident_list(s, start=seeded.outage_start + HOUR, end=now, now=now)
            assert inside[0].start == pytest.approx(seeded.outage_start, abs=0.002)
    finally:
        engine.dispose()
