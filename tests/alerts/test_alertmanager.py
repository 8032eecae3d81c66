"""The alertmanager receiver against a real Alertmanager (Debian prometheus-alertmanager) on
loopback: our alert shows with our labels, is re-sent while it fires, and ends when resolved."""

from __future__ import annotations

import httpx
import pytest

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


def am_alerts(am, **params) -> list[dict]:
    return httpx.get(f"{am.url}/api/v2/alerts", params=params, timeout=5).json()


def test_alert_reaches_alertmanager_with_our_labels_and_resolving_ends_it(alertmanager, target, tmp_path):
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}, public_url: "https://monitor.example.com"}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 100ms, timeout: 100ms}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/", labels: {{team: platform}}, severity: warning}}
alerts:
  receivers:
    - {{name: am, kind: alertmanager, url: "{alertmanager.url}", resend_interval: 1s}}
  routes:
    - {{match: {{component: paas}}, receivers: [am]}}
""")
    svc = ServiceThread(create_app(config), port).start()
    try:
        wait_for(lambda: svc.json("/api/v1/checks")[0]["state"]["status"] == "up", what="check up")
        target.behaviour.status = 503
        [alert] = wait_for(lambda: am_alerts(alertmanager), what="alert in Alertmanager")
        assert alert["labels"] == {"alertname": "PlatformMonitorCheckDown", "check": "paas/web", "component": "paas",
                                   "kind": "http", "severity": "warning", "team": "platform", "name": "web",
                                   "subject": "check"}
        assert alert["status"]["state"] == "active"
        assert "503" in alert["annotations"]["reason"] and "paas/web" in alert["annotations"]["summary"]
        assert alert["generatorURL"] == "https://monitor.example.com/checks/paas/web"
        # re-sent while it fires: Alertmanager sees it updated and its end pushed forward
        first = alert["updatedAt"], alert["endsAt"]
        wait_for(lambda: (a := am_alerts(alertmanager)) and (a[0]["updatedAt"], a[0]["endsAt"]) > first,
                 what="alert re-sent")

        target.behaviour.status = 200
        wait_for(lambda: am_alerts(alertmanager) == [], what="alert ended in Alertmanager")
        # the outcome is marked just after Alertmanager answered: look until it is stored
        wait_for(lambda: len([d for d in svc.json("/api/v1/alerts")["deliveries"] if d["outcome"] == "delivered"])
                 == 2, timeout=5, what="both deliveries marked delivered")
    finally:
        svc.stop()
