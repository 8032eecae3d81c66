"""kill -9 of the real service (`python -m monitor serve`) with a notification pending: after a
restart it is delivered, once; what was delivered is not sent again; what fires does not fire
again, and still resolves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.alerts.servers import WebhookReceiver
from tests.peers import free_port
from tests.targets import HttpTarget, wait_for

SECRET = "crash-secret-81c2"


@pytest.fixture
def targets():
    a, b = HttpTarget(), HttpTarget()
    yield a, b
    a.close()
    b.close()


def serve(config: str, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", config],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HOOK_SECRET": SECRET})


def test_kill_9_with_pending_notifications(targets, tmp_path):
    a, b = targets
    port, hook_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "pm.yaml"
    config.write_text(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 100ms, timeout: 100ms, failure_threshold: 2}}
checks:
  - {{name: a, component: paas, kind: http, url: "{a.url}/"}}
  - {{name: b, component: paas, kind: http, url: "{b.url}/"}}
alerts:
  repeat_interval: 0s
  delivery: {{initial_backoff: 100ms, max_backoff: 300ms}}
  receivers:
    - {{name: hook, kind: webhook, url: "http://127.0.0.1:{hook_port}/", secret: "${{HOOK_SECRET}}"}}
""")
    receiver = WebhookReceiver(SECRET, port=hook_port).start()
    log = open(tmp_path / "service.log", "a")  # noqa: SIM115 - both runs append to it

    def alerts():
        try:
            return httpx.get(f"{base}/api/v1/alerts", timeout=2).json()
        except httpx.HTTPError:
            return None

    def runs(check: str) -> float:
        text = httpx.get(f"{base}/metrics", timeout=2).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("platform_monitor_check_runs_total{") and f'check="{check}"' in line)

    proc = serve(str(config), log)
    try:
        wait_for(alerts, timeout=30, what="service up")
        a.behaviour.status = 500
        wait_for(lambda: receiver.events() == [("check:paas/a", "firing")], what="a's firing delivered")
        receiver.stop()
        b.behaviour.status = 500
        wait_for(lambda: any(d["key"] == "check:paas/b" and d["outcome"] == "pending" and d["attempts"] >= 2
                             for d in (alerts() or {}).get("deliveries", [])), what="b's firing pending, retried")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        receiver.start()
        proc = serve(str(config), log)
        wait_for(alerts, timeout=30, what="service up again")
        wait_for(lambda: len(receiver.events()) == 2, what="b's firing delivered after the restart")
        assert receiver.events() == [("check:paas/a", "firing"), ("check:paas/b", "firing")]
        # both still down: let both run a good while, nothing fires again
        start = runs("paas/a")
        wait_for(lambda: runs("paas/a") >= start + 10, what="ten more runs")
        assert len(receiver.events()) == 2 and receiver.repeats == []
        assert sorted(x["key"] for x in alerts()["firing"]) == ["check:paas/a", "check:paas/b"]

        a.behaviour.status = 200  # what was firing before the crash still resolves
        wait_for(lambda: len(receiver.events()) == 3, what="a's resolution")
        assert receiver.events()[-1] == ("check:paas/a", "resolved")
        assert receiver.repeats == [] and receiver.refused == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        receiver.stop()
        log.close()
    assert "Traceback" not in (tmp_path / "service.log").read_text()
