"""The service end to end, in-process: config → scheduler → probes → state → storage, the JSON
API, metrics, reload, restart. Real HTTP target and real uvicorn on loopback."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.api import create_app
from monitor.config import load_config, parse_config
from storage.db import create_db_engine
from storage.models import ResultRow, StateChangeRow
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


def config_text(target: HttpTarget, db: str, *, port: int, extra: str = "", interval: str = "200ms") -> str:
    return f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: {interval}, timeout: {interval}, failure_threshold: 2}}
checks:
  - name: health
    component: paas
    kind: http
    url: {target.url}/healthz
    headers: {{Authorization: "Bearer ${{PAAS_TOKEN}}"}}
    expect: {{status: [200], json: [{{path: status, equals: ok}}]}}
  - name: port
    component: paas
    kind: tcp
    host: 127.0.0.1
    port: {target.port}
{extra}"""


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("PAAS_TOKEN", "tok-abcdef-123")


def start(text: str, tmp_path, *, path=None) -> ServiceThread:
    config = parse_config(text) if path is None else load_config(path)
    return ServiceThread(create_app(config, config_path=path), config.server.port).start()


def test_checks_run_states_change_and_are_stored(target, tmp_path, env):
    db = tmp_path / "pm.db"
    svc = start(config_text(target, db, port=free_port()), tmp_path)
    try:
        checks = wait_for(
            lambda: (c := svc.json("/api/v1/checks")) and all(x["state"]["status"] == "up" for x in c) and c,
            what="both checks up",
        )
        assert {c["id"] for c in checks} == {"paas/health", "paas/port"}
        comps = svc.json("/api/v1/components")
        assert comps == [
            {"name": "paas", "title": "paas", "group": None, "description": "", "status": "up",
             "since": comps[0]["since"], "checks": {"up": 2},
             "check_ids": ["paas/health", "paas/port"]}
        ]

        target.behaviour.status = 503
        check = wait_for(lambda: (c := svc.json("/api/v1/checks/paas/health"))["state"]["status"] == "down" and c,
                         what="health down")
        assert "503" in check["state"]["reason"]
        assert check["settings"]["headers"] == {"Authorization": "<redacted>"}
        assert "tok-abcdef-123" not in svc.get("/api/v1/checks/paas/health").text
        assert svc.json("/api/v1/components")[0]["status"] == "down"

        metrics = svc.get("/metrics").text
        assert 'platform_monitor_check_up{check="paas/health",component="paas",kind="http"} 0.0' in metrics
        assert 'platform_monitor_check_up{check="paas/port",component="paas",kind="tcp"} 1.0' in metrics
        assert 'platform_monitor_component_up{component="paas"} 0.0' in metrics
        assert 'platform_monitor_check_runs_total{check="paas/health",component="paas",kind="http",result="down"}' \
            in metrics
        assert "platform_monitor_check_duration_seconds_bucket" in metrics
        assert "platform_monitor_scheduler_lag_seconds_count" in metrics
        assert "platform_monitor_storage_pending_writes" in metrics

        results = wait_for(lambda: svc.json("/api/v1/checks/paas/health/results?limit=5"), what="stored results")
        assert results[0]["status"] in ("down", "up") and len(results) <= 5
        assert svc.get("/api/v1/checks/paas/nope").status_code == 404
        assert svc.get("/readyz").json() == {"status": "ready", "problems": {}}
        assert svc.get("/healthz").json() == {"status": "ok"}
        assert svc.get("/docs").status_code == 200
    finally:
        svc.stop()
    engine = create_db_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        changes = [(r.check_id, r.old, r.new) for r in s.scalars(select(StateChangeRow).order_by(StateChangeRow.ts))]
        assert ("paas/health", "unknown", "up") in changes and ("paas/health", "up", "down") in changes
        assert s.scalar(select(ResultRow).where(ResultRow.status == "down").limit(1)).reason.startswith("HTTP 503")


def test_state_survives_a_restart(target, tmp_path, env):
    db = tmp_path / "pm.db"
    target.behaviour.status = 500
    port = free_port()
    svc = start(config_text(target, db, port=port), tmp_path)
    try:
        first = wait_for(lambda: (c := svc.json("/api/v1/checks/paas/health"))["state"]["status"] == "down" and c,
                         what="down")
    finally:
        svc.stop()
    # restarted with a long interval: before any new run, the state is what it was
    svc = start(config_text(target, db, port=port, interval="1h"), tmp_path)
    try:
        check = svc.json("/api/v1/checks/paas/health")
        assert check["state"]["status"] == "down"
        assert check["state"]["since"] == first["state"]["since"]
    finally:
        svc.stop()


def test_reload_applies_a_good_file_and_refuses_a_bad_one(target, tmp_path, env):
    db = tmp_path / "pm.db"
    path = tmp_path / "config.yaml"
    port = free_port()
    path.write_text(config_text(target, db, port=port))
    svc = start("", tmp_path, path=path)
    try:
        wait_for(lambda: svc.json("/api/v1/checks/paas/port")["last_result"], what="a first run")
        runs_before = svc.service.engine.state.checks["paas/port"].runs["up"]
        extra = f"""  - name: extra
    component: other
    kind: tcp
    host: 127.0.0.1
    port: {target.port}
"""
        path.write_text(config_text(target, db, port=port, extra=extra))
        wait_for(lambda: any(c["id"] == "other/extra" for c in svc.json("/api/v1/checks")), what="reload")
        # the checks that stayed kept their counters
        assert svc.service.engine.state.checks["paas/port"].runs["up"] >= runs_before

        path.write_text(config_text(target, db, port=port, extra=extra) + "  - {kind: nope}\n")
        wait_for(lambda: svc.service.reloads.failure == 1, what="refused reload")
        assert {c["id"] for c in svc.json("/api/v1/checks")} == {"paas/health", "paas/port", "other/extra"}
        assert 'platform_monitor_config_reloads_total{outcome="failure"} 1.0' in svc.get("/metrics").text

        path.write_text(config_text(target, db, port=port))
        wait_for(lambda: len(svc.json("/api/v1/checks")) == 2, what="check removed")
        assert "other/extra" not in svc.get("/metrics").text
    finally:
        svc.stop()


def test_a_hanging_target_never_delays_other_checks(target, tmp_path, env):
    """A target that accepts and never answers: its check times out as `down`; the others keep
    their schedule."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)
    extra = "".join(
        f"""  - name: hang{i}
    component: hanging
    kind: http
    url: http://127.0.0.1:{silent.getsockname()[1]}/
    timeout: 1s
    interval: 1s
"""
        for i in range(20)
    )
    svc = start(config_text(target, tmp_path / "pm.db", port=free_port(), extra=extra), tmp_path)
    try:
        time.sleep(3.5)
        states = svc.service.engine.state.checks
        assert states["hanging/hang0"].status.value == "down"
        assert states["hanging/hang0"].last_result.reason == "timeout after 1s"
        # the fast check ran about every 200 ms all along
        assert states["paas/port"].runs["up"] >= 12
    finally:
        svc.stop()
        silent.close()


def test_service_starts_and_probes_while_the_database_is_away(target, tmp_path, env, postgres_url):
    """Database unreachable at start: probing and metrics go on, /readyz says why, and the
    buffered results are written once the database answers."""
    from sqlalchemy import func, make_url

    from tests.tcpproxy import TcpProxy

    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    proxy.stop_listening()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    text = config_text(target, "unused", port=free_port()).replace('"sqlite:///unused"', f'"{url}"')
    svc = start(text, tmp_path)
    try:
        wait_for(lambda: svc.service.engine.state.checks["paas/port"].runs["up"] >= 3, what="probing without db")
        ready = svc.get("/readyz")
        assert ready.status_code == 503 and "storage" in ready.json()["problems"]
        assert "platform_monitor_storage_up 0.0" in svc.get("/metrics").text
        proxy.resume_listening()
        wait_for(lambda: svc.get("/readyz").status_code == 200, timeout=40, what="storage back")
        wait_for(lambda: svc.service.engine.writer.pending == 0, what="buffer written")
        engine = create_db_engine(url)
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(ResultRow)) >= 6
            assert s.scalar(select(func.count()).select_from(StateChangeRow)) >= 2
        engine.dispose()
    finally:
        svc.stop()
        proxy.close()
