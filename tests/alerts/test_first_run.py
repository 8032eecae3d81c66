"""A check whose first runs fail, end to end (issue 14, item 9): the whole service probing a real
target, alerts delivered to a real webhook receiver. The first result is shown at once, but an
alert needs `failure_threshold` failed runs counted from the first run."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.api import create_app
from monitor.config import parse_config
from tests.alerts.servers import WebhookReceiver
from tests.alerts.test_delivery import metric
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

SECRET = "hook-secret-first-run"


class ScriptedTarget(HttpTarget):
    """Answers the given statuses to its first requests, then 200 for ever."""

    def __init__(self, *first: int) -> None:
        super().__init__()
        self.script, self.lock = list(first), threading.Lock()
        handler = self.server.RequestHandlerClass
        original, target = handler.do_GET, self

        def do_get(self) -> None:
            with target.lock:
                target.behaviour.status = target.script.pop(0) if target.script else 200
            original(self)

        handler.do_GET = do_get


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hook = WebhookReceiver(SECRET).start()
    yield hook
    hook.stop()


def start_service(tmp_path, target: HttpTarget, hook: WebhookReceiver) -> ServiceThread:
    port = free_port()
    text = f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 200ms, timeout: 200ms, failure_threshold: 2}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/healthz"}}
alerts:
  subjects: [check, component]
  repeat_interval: 0s
  delivery: {{initial_backoff: 100ms, max_backoff: 400ms}}
  receivers:
    - {{name: ops-hook, kind: webhook, url: "{hook.url}/hook", secret: "${{HOOK_SECRET}}"}}
"""
    return ServiceThread(create_app(parse_config(text)), port).start()


def runs(svc: ServiceThread, result: str) -> float:
    return metric(svc, "platform_monitor_check_runs_total", check="paas/web", result=result)


def test_one_failing_first_run_delivers_nothing(receiver, tmp_path):
    target = ScriptedTarget(503)
    svc = start_service(tmp_path, target, receiver)
    try:
        wait_for(lambda: runs(svc, "up") >= 5, timeout=20, what="five good runs after the failing first one")
        assert runs(svc, "down") == 1
        assert svc.json("/api/v1/checks")[0]["state"]["status"] == "up"
        time.sleep(0.5)  # past an evaluation and a delivery attempt
        alerts = svc.json("/api/v1/alerts")
        assert alerts["firing"] == [] and alerts["deliveries"] == []
        assert receiver.requests == []
    finally:
        svc.stop()
        target.close()


def test_two_failing_first_runs_deliver_one_alert_per_subject(receiver, tmp_path):
    target = ScriptedTarget(503, 503)
    svc = start_service(tmp_path, target, receiver)
    try:
        wait_for(lambda: ("check:paas/web", "resolved") in receiver.events(), timeout=20,
                 what="the alert fired and resolved")
        assert runs(svc, "down") == 2
        time.sleep(0.5)
        assert sorted(receiver.events()) == [("check:paas/web", "firing"), ("check:paas/web", "resolved"),
                                             ("component:paas", "firing"), ("component:paas", "resolved")]
    finally:
        svc.stop()
        target.close()
