"""The history API end to end: the whole service under uvicorn on a database holding the scenario
(tests/history/scenario.py) and probing a real HTTP target; maintenance windows from the config
file and from the API; the housekeeping job rolling up what the service itself records."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.api import create_app
from monitor.config import load_config
from storage import alert_queries, rollups
from storage.db import create_db_engine, upgrade
from storage.rollup_models import Rollup1h
from tests.history import scenario
from tests.history.scenario import H, at, ts
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

TOKEN = "history-test-token"


def iso(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


def config_text(target: HttpTarget, db: str, port: int, *, with_window: bool = True) -> str:
    window = """
maintenance:
  - {name: nightly, components: [paas], every: day, at: "02:00", duration: 1h, reason: "backups"}
""" if with_window else ""
    return f"""
server: {{host: 127.0.0.1, port: {port}, api_token: {TOKEN}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 200ms, timeout: 200ms}}
components:
  web: {{slo: 99.5, title: "Web front", group: apps}}
  "*": {{slo: 99.0}}
checks:
  - {{name: health, component: paas, kind: http, url: "{target.url}/healthz"}}
{window}"""


@pytest.fixture
def service(tmp_path):
    target = HttpTarget()
    db = tmp_path / "pm.db"
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade(engine)
    scenario.seed(engine)
    rollups.update(engine, now=ts(12 * H + 60))
    engine.dispose()
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(config_text(target, db, port))
    svc = ServiceThread(create_app(load_config(path), config_path=path), port).start()
    svc.target, svc.db_path, svc.port, svc.config_path = target, db, port, path
    yield svc
    svc.stop()
    target.close()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_history_endpoints_answer_from_stored_history(service):
    snap = service.json(f"/api/v1/snapshot?at={iso(2 * H + 900)}")
    assert {c["id"]: c["state"] for c in snap["checks"]} == {"web/a": "down", "web/b": "down", "web/old": "up",
                                                            "db/x": "up"}
    assert snap["at"] == iso(2 * H + 900) and snap["next_change"]["subject"] == "web/b"

    tl = service.json(f"/api/v1/timeline?from={iso(H)}&to={iso(3 * H)}&component=web&checks=false")
    assert (tl["from"], tl["checks"]) == (iso(H), [])
    assert [(i["start"], i["state"]) for i in tl["components"][0]["intervals"]] == [
        (iso(H), "up"), (iso(2 * H), "down"), (iso(2.5 * H), "up")]

    up = service.json(f"/api/v1/uptime?from={iso(0)}&to={iso(24 * H)}")
    web = next(e for e in up["entries"] if e["id"] == "web")
    assert (web["slo"], web["down_seconds"], web["incidents"], web["runs"]) == (99.5, 1800, 2, 720)
    dbc = next(e for e in up["entries"] if e["id"] == "db")
    assert (dbc["slo"], dbc["maintenance_seconds"]) == (99.0, 7200)  # the "*" pattern's SLO
    by_check = service.json(f"/api/v1/uptime?from={iso(0)}&to={iso(24 * H)}&by=check&component=web")
    assert sorted(e["id"] for e in by_check["entries"]) == ["web/a", "web/b", "web/old"]

    incidents = service.json(f"/api/v1/incidents?from={iso(0)}&to={iso(24 * H)}&component=web")
    assert [(i["start"], i["end"], i["worst"]) for i in incidents] == [
        (iso(10 * H), iso(11 * H), "degraded"), (iso(2 * H), iso(2.5 * H), "down")]

    # months later only the hourly rollups are left (raw results and 5-minute detail expired)
    series = service.json(f"/api/v1/checks/web/a/history?from={iso(0)}&to={iso(24 * H)}")
    assert (series["resolution"], series["step_seconds"], len(series["points"])) == ("1h", 3600, 12)
    assert series["points"][2]["down"] == 30 and series["states"][1]["state"] == "down"


def test_bad_input_is_refused_with_a_clear_message(service):
    assert service.get("/api/v1/snapshot?at=yesterday").status_code == 422
    r = service.get(f"/api/v1/timeline?from={iso(H)}&to={iso(0)}")
    assert (r.status_code, r.json()["detail"]) == (422, "`from` must be before `to`")
    assert service.get("/api/v1/uptime?by=team").status_code == 422
    assert service.get("/api/v1/checks/web/a/history?points=5000").status_code == 422
    r = service.get("/api/v1/checks/nope/x/history")
    assert (r.status_code, r.json()["detail"]) == (404, "no check with id 'nope/x' was ever configured")
    assert service.get("/api/v1/checks/paas/health").status_code == 200  # the checks router still answers
    paths = service.json("/openapi.json")["paths"]
    assert {"/api/v1/snapshot", "/api/v1/timeline", "/api/v1/uptime", "/api/v1/incidents", "/api/v1/overview",
            "/api/v1/maintenance", "/api/v1/checks/{check_id}/history"} <= set(paths)
    assert "previous/next check state change" in paths["/api/v1/snapshot"]["get"]["description"]


def test_maintenance_windows_from_config_and_api(service):
    url = service.url + "/api/v1/maintenance"
    windows = service.json(f"/api/v1/maintenance?from={iso(0)}")
    assert [(w["name"], w["source"]) for w in windows] == [("db upgrade", "api"), ("nightly", "config")]
    body = {"name": "web deploy", "components": ["web"], "start": iso(10 * H), "duration": "30m", "reason": "v2"}
    assert httpx.post(url, json=body).status_code == 401
    created = httpx.post(url, json=body, headers=auth())
    assert created.status_code == 201, created.text
    window = created.json()
    assert (window["source"], window["start"], window["end"]) == ("api", iso(10 * H), iso(10.5 * H))
    web = next(e for e in service.json(f"/api/v1/uptime?from={iso(0)}&to={iso(24 * H)}")["entries"]
               if e["id"] == "web")
    assert (web["maintenance_seconds"], web["degraded_seconds"]) == (1800, 1800)  # half the degradation left out
    bad = httpx.post(url, json={"components": ["web"], "every": "week", "days": ["funday"], "at": "02:00",
                                "duration": "1h"}, headers=auth())
    assert bad.status_code == 422 and "weekday names" in bad.text
    config_window = windows[1]["id"]
    refused = httpx.delete(f"{url}/{config_window}", headers=auth())
    assert refused.status_code == 409 and "config file" in refused.json()["detail"]
    assert httpx.delete(f"{url}/{window['id']}").status_code == 401
    assert httpx.delete(f"{url}/{window['id']}", headers=auth()).status_code == 204
    assert httpx.delete(f"{url}/{window['id']}", headers=auth()).status_code == 404


def test_service_rolls_up_its_results_and_syncs_config_windows(service):
    hk = service.service.housekeeping
    wait_for(lambda: service.service.engine.state.checks["paas/health"].runs["up"] >= 3, what="runs")

    def rolled_up():
        hk.run_now()  # the writer may not have written the runs yet when a run starts: ask again
        engine = create_db_engine(f"sqlite:///{service.db_path}")
        try:
            with Session(engine) as s:
                return s.scalar(select(Rollup1h.runs).where(Rollup1h.check_id == "paas/health"))
        finally:
            engine.dispose()

    try:
        wait_for(lambda: (rolled_up() or 0) >= 3, timeout=40, interval=0.5, what="hourly rollup of the live check")
    except AssertionError as exc:  # say what the job was doing
        raise AssertionError(f"{exc}; housekeeping: {hk.runs} runs, {hk.failures} failures, "
                             f"last error {hk.last_error}, last report {hk.last_report}") from None
    # the job's counters are exported, from memory
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    assert re.search(r'^platform_monitor_housekeeping_runs_total\{job="rollup",outcome="success"\} [1-9]',
                     metrics, re.M)
    assert re.search(r'^platform_monitor_housekeeping_runs_total\{job="maintenance_sync",outcome="success"\} [1-9]',
                     metrics, re.M)
    assert re.search(r'^platform_monitor_housekeeping_last_success_timestamp_seconds\{job="rollup"\} 1\.[0-9]+e\+09',
                     metrics, re.M)
    assert re.search(r"^platform_monitor_housekeeping_rolled_up_rows_total [1-9]", metrics, re.M)
    # retention reaches the alerting tables: a finished delivery and its event from long ago go, counted by table
    long_ago = time.time() - 500 * 24 * H
    payload = {"type": "firing", "summary": "paas/health is down"}
    engine = create_db_engine(f"sqlite:///{service.db_path}")
    with Session(engine) as s, s.begin():
        alert_queries.save_alerts(s, states=[], events=[
            {"event_id": "old", "key": "check:paas/health", "type": "firing", "at": long_ago, "suppressed_by": None,
             "receivers": ["hook"], "payload": payload}], outbox=[
            {"event_id": "old", "receiver": "hook", "key": "check:paas/health", "created_at": long_ago, "attempts": 1,
             "next_attempt_at": long_ago, "outcome": "delivered", "delivered_at": long_ago, "last_error": None,
             "updated_at": long_ago}])
    engine.dispose()

    def alert_rows_deleted() -> list[str]:
        hk.run_now()
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        return re.findall(r'^platform_monitor_housekeeping_deleted_rows_total'
                          r'\{table="(alert_events|alert_outbox)"\} 1\.0$', text, re.M)

    wait_for(lambda: sorted(alert_rows_deleted()) == ["alert_events", "alert_outbox"], timeout=40, interval=0.5,
             what="the old alert event and delivery deleted by retention")
    overview = service.json("/api/v1/overview?days=2")
    assert [(c["id"], c["state"], c["slo"], c["title"]) for c in overview["components"]] == [
        ("paas", "up", 99.0, None)]
    # the config window goes: it is retired (kept for the past), no longer listed by default
    service.config_path.write_text(config_text(service.target, service.db_path, service.port, with_window=False))
    wait_for(lambda: [w["name"] for w in service.json("/api/v1/maintenance")] == ["db upgrade"], timeout=40,
             what="the config window retired")
    retired = [w for w in service.json("/api/v1/maintenance?retired=true") if w["name"] == "nightly"]
    assert retired and retired[0]["retired_at"] is not None
