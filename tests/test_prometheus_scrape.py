"""A real Prometheus scrapes the service's /metrics and finds our series through its own API."""

from __future__ import annotations

import pytest

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


def test_prometheus_scrapes_our_metrics(prometheus_factory, target, tmp_path):
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}"}}
defaults: {{interval: 500ms, timeout: 500ms}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/"}}
  - {{name: closed, component: paas, kind: tcp, host: 127.0.0.1, port: {free_port()}, failure_threshold: 1}}
""")
    svc = ServiceThread(create_app(config), port).start()
    try:
        prom = prometheus_factory(f"127.0.0.1:{port}")
        up = prom.wait_for('platform_monitor_check_up{check="paas/web"} == 1')
        assert up[0]["metric"]["component"] == "paas" and up[0]["metric"]["kind"] == "http"
        assert prom.wait_for('platform_monitor_check_up{check="paas/closed"} == 0')
        assert prom.wait_for('platform_monitor_component_up{component="paas"} == 0')
        assert prom.wait_for('platform_monitor_check_status{check="paas/closed",status="down"} == 1')
        assert prom.wait_for('platform_monitor_check_runs_total{check="paas/web",result="up"} > 0')
        assert prom.wait_for('histogram_quantile(0.99, platform_monitor_check_duration_seconds_bucket'
                             '{check="paas/web"}) > 0')
        assert prom.wait_for("platform_monitor_check_last_run_timestamp_seconds > 0")
        assert prom.wait_for("platform_monitor_scheduler_lag_seconds_count > 0")
        assert prom.wait_for("platform_monitor_storage_dropped_writes_total == 0")
        assert prom.wait_for('up{job="pm-test"} == 1')
    finally:
        svc.stop()
