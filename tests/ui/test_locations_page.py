"""Locations in Chromium: a check judged from three places shows one row per location with its
latest result and the quorum; the Processes page lists the agents with what the centre last heard
from each (a real centre; the agents' pushes made as docs/agents.md says)."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.remote.wire import PROD_TOKEN, TEST_TOKEN, result
from tests.targets import HttpTarget, ServiceThread, wait_for

TIMEOUT_MS = 15_000


def test_a_check_shows_each_location_and_the_processes_page_the_agents(tmp_path, open_page):
    import hashlib

    target = HttpTarget()
    port = free_port()
    config = parse_config(f"""
server: {{port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 1}}
agents:
  - {{name: prod-dc, token: "{PROD_TOKEN}"}}
  - {{name: test-dc, token_sha256: "{hashlib.sha256(TEST_TOKEN.encode()).hexdigest()}"}}
checks:
  - {{name: api, component: paas, kind: http, url: "{target.url}/", locations: [central, prod-dc, test-dc], quorum: 2}}
""")
    svc = ServiceThread(create_app(config), port).start()
    try:
        def push(token: str, status: str, reason: str) -> None:
            answer = httpx.post(f"{svc.url}/api/v1/agent/results", headers={"Authorization": f"Bearer {token}"},
                                json={"clock_offset": 0.012, "buffered": 2, "dropped": 0,
                                      "results": [result("paas/api", time.time(), status, reason)]})
            assert answer.status_code == 200, answer.text

        push(PROD_TOKEN, "down", "connection refused from prod-dc <img src=x onerror=window.__pwned=1>")
        push(TEST_TOKEN, "up", "")
        wait_for(lambda: svc.json("/api/v1/checks/paas/api")["state"]["status"] == "degraded", timeout=10,
                 what="degraded from one location")
        op = open_page()
        page = op.goto(svc.url + "/checks/paas/api").page
        panel = page.locator("#locations-panel")
        expect(panel).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("#quorum")).to_have_text("down when 2 of 3 locations see it down")
        rows = page.locator("#locations tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator('#locations tr[data-location="prod-dc"] .badge')).to_have_text("down")
        expect(page.locator('#locations tr[data-location="prod-dc"] td.reason')).to_contain_text(
            "connection refused from prod-dc <img")
        expect(page.locator('#locations tr[data-location="test-dc"] .badge')).to_have_text("up")
        expect(page.locator('#locations tr[data-location="central"] th')).to_have_text("central (this service)")
        op.screenshot()
        page = op.goto(svc.url + "/processes").page
        expect(page.locator("#agents-panel")).to_be_visible(timeout=TIMEOUT_MS)
        prod = page.locator('#agents tr[data-agent="prod-dc"]')
        expect(prod).to_contain_text("127.0.0.1")
        expect(prod).to_contain_text("+0.012 s")
        expect(prod).to_contain_text("2 waiting, 0 dropped")
        expect(prod.locator("a")).to_have_attribute("href", "/checks/agents/prod-dc")
        op.screenshot("agents")
        op.assert_clean()
    finally:
        svc.stop()
        target.close()
