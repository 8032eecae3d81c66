"""Alert delivery end to end, in-process: a real HTTP target probed by the whole service, a
local webhook receiver that verifies signatures. Receiver outages, flapping, silences, the API
and the metrics, as an operator sees them."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from monitor.api import create_app
from monitor.config import parse_config
from tests.alerts.servers import WebhookReceiver
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

SECRET = "hook-secret-5f3a9"
TOKEN = "api-token-77ab12"


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


@pytest.fixture
def receiver():
    hook = WebhookReceiver(SECRET).start()
    yield hook
    hook.stop()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("PM_API_TOKEN", TOKEN)


def start_service(tmp_path, target_url: str, hook: WebhookReceiver, *, threshold: int = 2) -> ServiceThread:
    port = free_port()
    text = f"""
server: {{host: 127.0.0.1, port: {port}, api_token: "${{PM_API_TOKEN}}"}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 100ms, timeout: 100ms, failure_threshold: {threshold}}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target_url}/healthz", labels: {{team: platform}}}}
alerts:
  repeat_interval: 0s
  delivery: {{initial_backoff: 100ms, max_backoff: 400ms}}
  receivers:
    - {{name: ops-hook, kind: webhook, url: "{hook.url}/hook", secret: "${{HOOK_SECRET}}"}}
"""
    return ServiceThread(create_app(parse_config(text)), port).start()


def metric(svc: ServiceThread, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in svc.get("/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, value = line.rsplit(" ", 1)
            got = series[len(name):].strip("{}")
            if all(part in got.split(",") for part in wanted.split(",") if part):
                return float(value)
    return 0.0


def test_firing_and_resolved_are_signed_and_a_receiver_outage_delays_but_does_not_lose_or_repeat(
    target, receiver, env, tmp_path
):
    svc = start_service(tmp_path, target.url, receiver)
    try:
        wait_for(lambda: svc.json("/api/v1/checks")[0]["state"]["status"] == "up", what="check up")
        target.behaviour.status = 503
        wait_for(lambda: receiver.events() == [("check:paas/web", "firing")], what="firing delivered")
        [payload] = receiver.deliveries.values()
        assert payload["version"] == "1" and payload["status"] == "firing"
        assert payload["alert"]["check"] == "paas/web" and payload["alert"]["labels"]["team"] == "platform"
        assert payload["state"]["old"] == "up" and payload["state"]["new"] == "down"
        assert "503" in payload["state"]["reason"]
        assert payload["links"]["ui"] == f"{svc.url}/checks/paas/web"
        firing = svc.json("/api/v1/alerts")["firing"]
        assert [a["key"] for a in firing] == ["check:paas/web"]

        receiver.stop()  # the receiver goes away (connection refused) ...
        target.behaviour.status = 200  # ... while the check recovers
        wait_for(lambda: metric(svc, "platform_monitor_alert_notifications_total", receiver="ops-hook",
                                outcome="error") >= 3, what="delivery attempts failing")
        alerts = svc.json("/api/v1/alerts")
        assert alerts["firing"] == [] and alerts["outbox"]["depth"] == {"ops-hook": 1}
        pending = [d for d in alerts["deliveries"] if d["outcome"] == "pending"]
        assert len(pending) == 1 and pending[0]["attempts"] >= 2 and "refused" in pending[0]["last_error"]
        assert metric(svc, "platform_monitor_alert_outbox_depth", receiver="ops-hook") == 1

        receiver.start()  # back on the same port
        wait_for(lambda: len(receiver.events()) == 2, what="resolved delivered after the outage")
        assert receiver.events() == [("check:paas/web", "firing"), ("check:paas/web", "resolved")]
        wait_for(lambda: svc.json("/api/v1/alerts")["outbox"]["depth"] == {"ops-hook": 0}, what="outbox empty")
        runs = metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="up")
        wait_for(lambda: metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="up") > runs + 5,
                 what="more runs")
        assert len(receiver.events()) == 2 and receiver.repeats == [] and receiver.refused == 0
        assert metric(svc, "platform_monitor_alert_notifications_total", receiver="ops-hook",
                      outcome="delivered") == 2
        delivered = [d for d in svc.json("/api/v1/alerts")["deliveries"] if d["outcome"] == "delivered"]
        assert len(delivered) == 2

        # what the API shows of receivers never includes their secrets
        text = svc.get("/api/v1/alerts").text
        assert SECRET not in text and svc.json("/api/v1/alerts")["receivers"][0]["secret"] == "<redacted>"
    finally:
        svc.stop()


class FlappingTarget(HttpTarget):
    """Answers 503 to every other request."""

    def __init__(self) -> None:
        super().__init__()
        self.lock, self.count = threading.Lock(), 0
        handler = self.server.RequestHandlerClass
        original = handler.do_GET
        target = self

        def do_get(self) -> None:
            with target.lock:
                target.count += 1
                target.behaviour.status = 503 if target.count % 2 == 0 else 200
            original(self)

        handler.do_GET = do_get


def test_a_target_flapping_within_thresholds_raises_no_alert(receiver, env, tmp_path):
    flapping = FlappingTarget()
    svc = start_service(tmp_path, flapping.url, receiver, threshold=2)
    try:
        wait_for(lambda: metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="down") >= 10,
                 timeout=20, what="ten failed runs")
        assert svc.json("/api/v1/checks")[0]["state"]["status"] == "up"
        alerts = svc.json("/api/v1/alerts")
        assert alerts["firing"] == [] and alerts["deliveries"] == []
        assert receiver.requests == [] and svc.json("/api/v1/alerts/events") == []
    finally:
        svc.stop()
        flapping.close()


def test_silences_need_the_token_stop_notifications_and_stay_visible(target, receiver, env, tmp_path):
    svc = start_service(tmp_path, target.url, receiver)
    try:
        body = {"matchers": {"team": "platform"}, "duration": "1h", "comment": "upgrade", "created_by": "alice"}
        assert httpx.post(f"{svc.url}/api/v1/silences", json=body).status_code == 401
        wrong = httpx.post(f"{svc.url}/api/v1/silences", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = httpx.post(f"{svc.url}/api/v1/silences", json=body, headers=auth)
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["active"] and silence["matchers"] == {"team": "platform"}

        target.behaviour.status = 503
        alerts = wait_for(lambda: (a := svc.json("/api/v1/alerts"))["silenced"] and a, what="alert silenced")
        [silenced] = alerts["silenced"]
        assert silenced["key"] == "check:paas/web" and "upgrade" in silenced["suppressed_by"]
        [event] = svc.json("/api/v1/alerts/events")
        assert event["type"] == "firing" and event["receivers"] == [] and "alice" in event["suppressed_by"]
        assert receiver.requests == []
        # probing goes on under the silence
        runs = metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="down")
        wait_for(lambda: metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="down") > runs,
                 what="probing continues")

        assert httpx.delete(f"{svc.url}/api/v1/silences/{silence['id']}").status_code == 401
        assert httpx.delete(f"{svc.url}/api/v1/silences/{silence['id']}", headers=auth).status_code == 200
        wait_for(lambda: receiver.events() == [("check:paas/web", "firing")], what="fires once the silence ends")
        assert svc.json("/api/v1/silences") == []

        ack = httpx.post(f"{svc.url}/api/v1/alerts/check:paas/web/ack", json={"by": "bob"}, headers=auth)
        assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "bob"
        assert httpx.post(f"{svc.url}/api/v1/alerts/check:paas/web/ack").status_code == 401
    finally:
        svc.stop()


def test_a_down_parent_covers_its_dependents_and_says_how_many(receiver, env, tmp_path):
    api, node = HttpTarget(), HttpTarget()
    port = free_port()
    text = f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 100ms, timeout: 100ms, failure_threshold: 2}}
checks:
  - {{name: apiserver, component: cluster-a, kind: http, url: "{api.url}/readyz"}}
  - {{name: node-1, component: cluster-a/nodes, kind: http, url: "{node.url}/1", depends_on: [cluster-a/apiserver]}}
  - {{name: node-2, component: cluster-a/nodes, kind: http, url: "{node.url}/2", depends_on: [cluster-a/apiserver]}}
alerts:
  subjects: [check, component]
  group_wait: 2s
  receivers: [{{name: ops-hook, kind: webhook, url: "{receiver.url}/", secret: "${{HOOK_SECRET}}"}}]
"""
    svc = ServiceThread(create_app(parse_config(text)), port).start()
    try:
        wait_for(lambda: all(c["state"]["status"] == "up" for c in svc.json("/api/v1/checks")), what="all up")
        node.behaviour.status = api.behaviour.status = 503  # one root cause takes everything down
        alerts = wait_for(lambda: len((a := svc.json("/api/v1/alerts"))["firing"]) == 2 and len(a["covered"]) == 3
                          and a, what="parent firing, children covered")
        firing = {a["key"]: a for a in alerts["firing"]}
        # the component of the apiserver fires too (alerts per check and per component); the
        # nodes' component depends on the apiserver through its checks, so it is covered
        assert set(firing) == {"check:cluster-a/apiserver", "component:cluster-a"}
        nodes = ["check:cluster-a/nodes/node-1", "check:cluster-a/nodes/node-2", "component:cluster-a/nodes"]
        assert firing["check:cluster-a/apiserver"]["covers"] == {"count": 3, "subjects": nodes}
        assert {a["suppressed_by"] for a in alerts["covered"]} == {"covered by check:cluster-a/apiserver"}
        wanted = {("check:cluster-a/apiserver", "firing"), ("component:cluster-a", "firing")}
        wait_for(lambda: set(receiver.events()) == wanted, what="two notifications")
        payload = receiver.deliveries[next(k for k, p in receiver.deliveries.items()
                                           if p["alert"]["key"] == "check:cluster-a/apiserver")]
        # the message counts what was covered when it was sent: the nodes may be confirmed down later
        assert set(payload["covers"]["subjects"]) <= set(nodes)
        runs = metric(svc, "platform_monitor_check_runs_total", check="cluster-a/nodes/node-1", result="down")
        wait_for(lambda: metric(svc, "platform_monitor_check_runs_total", check="cluster-a/nodes/node-1",
                                result="down") > runs + 25, what="well past the group wait")
        assert set(receiver.events()) == wanted and len(receiver.events()) == 2
    finally:
        svc.stop()
        api.close()
        node.close()


def test_a_maintenance_window_silences_its_component_but_not_probing(target, receiver, env, tmp_path, monkeypatch):
    """A window added through the API stops the component's notifications; what was held back
    is visible; once the window is deleted the alert fires."""

    from monitor.alerts import maintenance_silencer

    monkeypatch.setattr(maintenance_silencer, "REFRESH_INTERVAL", 0.2)
    svc = start_service(tmp_path, target.url, receiver)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        from datetime import UTC, datetime

        start = datetime.now(UTC).isoformat()
        window = {"name": "paas-upgrade", "components": ["paas"], "start": start, "duration": "1h",
                  "reason": "db migration"}
        created = httpx.post(f"{svc.url}/api/v1/maintenance", json=window, headers=auth)
        assert created.status_code in (200, 201), created.text
        labels = {"component": "paas", "subject": "check", "check": "paas/web"}
        wait_for(lambda: svc.service.maintenance(labels, time.time()), what="window known to the silencer")

        target.behaviour.status = 503
        alerts = wait_for(lambda: (a := svc.json("/api/v1/alerts"))["silenced"] and a, what="alert silenced")
        assert all("paas-upgrade" in s["suppressed_by"] for s in alerts["silenced"])
        runs = metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="down")
        wait_for(lambda: metric(svc, "platform_monitor_check_runs_total", check="paas/web", result="down") > runs,
                 what="probing continues")
        assert receiver.requests == []

        assert httpx.delete(f"{svc.url}/api/v1/maintenance/{created.json()['id']}", headers=auth).status_code in (
            200, 204)
        wait_for(lambda: ("check:paas/web", "firing") in receiver.events(), what="fires after the window")
    finally:
        svc.stop()
