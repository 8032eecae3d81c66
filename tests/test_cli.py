"""The `platform-monitor` command as a user runs it: check, serve with SIGHUP and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import create_db_engine
from storage.models import ResultRow
from tests.peers import free_port
from tests.targets import HttpTarget, wait_for


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, **kw)


def test_check_location_runs_what_that_location_runs(target, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"""
agents:
  - {{name: prod-dc, token: "prod-dc-token-0123456789"}}
checks:
  - {{name: here, component: paas, kind: http, url: "{target.url}/here"}}
  - {{name: there, component: paas, kind: http, url: "{target.url}/there", location: prod-dc}}
  - {{name: both, component: paas, kind: http, url: "{target.url}/both", locations: [central, prod-dc]}}
""")
    import json

    central = json.loads(cli("check", "--config", str(path), "--json").stdout)
    assert sorted(central) == ["paas/both", "paas/here"]  # (agents/prod-dc needs the centre's storage: not run)
    there = cli("check", "--config", str(path), "--json", "--location", "prod-dc")
    assert there.returncode == 0 and sorted(json.loads(there.stdout)) == ["paas/both", "paas/there"]
    assert set(target.behaviour.hits) == {"/here", "/there", "/both"}  # each location ran its own, here
    wrong = cli("check", "--config", str(path), "--location", "prod")
    assert wrong.returncode == 2
    assert "--location prod: no such location (the locations are central, prod-dc)" in wrong.stderr
    elsewhere = cli("check", "--config", str(path), "--only", "paas/there")
    assert elsewhere.returncode == 2
    assert "not run at central: paas/there runs at prod-dc (choose with --location)" in elsewhere.stderr


def test_check_prints_a_table_and_exits_1_when_down(target, tmp_path):
    closed = free_port()
    path = tmp_path / "c.yaml"
    path.write_text(f"""
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/"}}
  - {{name: closed, component: paas, kind: tcp, host: 127.0.0.1, port: {closed}}}
""")
    proc = cli("check", "--config", str(path))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "LATENCY", "REASON"]
    web = next(line for line in lines if line.startswith("paas/web"))
    assert web.split()[1] == "up"
    closed_line = next(line for line in lines if line.startswith("paas/closed"))
    assert closed_line.split()[1] == "down" and "refused" in closed_line

    proc = cli("check", "--config", str(path), "--only", "paas/web")
    assert proc.returncode == 0 and "paas/closed" not in proc.stdout
    proc = cli("check", "--config", str(path), "--only", "paas/nope")
    assert proc.returncode == 2 and "paas/nope" in proc.stderr


def test_serve_reloads_on_sighup_and_flushes_on_sigterm(target, tmp_path):
    port = free_port()
    db = tmp_path / "pm.db"
    path = tmp_path / "c.yaml"
    body = f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 1h}}
defaults: {{interval: 100ms, timeout: 100ms}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/"}}
"""
    path.write_text(body)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=30, what="service ready")
        # the watcher polls every 2 s; SIGHUP applies at once
        path.write_text(body + f'  - {{name: tcp, component: paas, kind: tcp, host: 127.0.0.1, port: {target.port}}}\n')
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(httpx.get(f"{base}/api/v1/checks", timeout=2).json()) == 2, timeout=3, what="SIGHUP")
        time.sleep(1.0)
        metrics = httpx.get(f"{base}/metrics", timeout=2).text
        ran = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("platform_monitor_check_runs_total{"))
        assert ran >= 10
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn re-raises the SIGTERM it handled once the app has shut down cleanly
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out and "Traceback" not in out
    # flush_interval is an hour: everything stored was written by the shutdown flush
    engine = create_db_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        stored = s.scalar(select(func.count()).select_from(ResultRow))
    assert stored >= ran
