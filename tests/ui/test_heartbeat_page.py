"""A heartbeat's ping body on the check page, in Chromium: kept with the finish it came with and
shown as text. A body holding `<script>` and `<img onerror>` runs nothing and adds no element."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import ServiceThread

TIMEOUT_MS = 15_000
TOKEN = "ui-heartbeat-token-0001"
BODY = ("tar: /var/lib/etcd: Cannot open\n<script>window.__pwned=1;alert('script')</script>\n"
        "<img src=x onerror=\"window.__pwned=1;alert('img')\">\n&lt;escaped&gt; stays &amp; literal")


def test_the_ping_body_is_shown_as_text_with_its_result(open_page, tmp_path):
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 500ms, timeout: 500ms, failure_threshold: 1}}
checks:
  - {{name: etcd-backup, component: backups, kind: heartbeat, token: {TOKEN}, schedule: "0 2 * * *",
      timezone: Asia/Shanghai}}
""")
    svc = ServiceThread(create_app(config), port).start()
    try:
        assert httpx.post(f"{svc.url}/ping/{TOKEN}/3", content=BODY.encode(), timeout=5).status_code == 200
        op = open_page()
        dialogs: list[str] = []
        op.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page = op.goto(svc.url + "/checks/backups/etcd-backup").page
        expect(page.locator("#state")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
        row = page.locator("#results tbody tr", has=page.locator(".ping-body"))
        expect(row).to_have_count(1, timeout=TIMEOUT_MS)
        expect(row).to_contain_text("exit status 3 at ")
        expect(row).to_contain_text("CST: tar: /var/lib/etcd: Cannot open")
        body = row.locator(".ping-body pre")
        expect(body).to_be_visible()  # a failed run's body is open at once
        assert body.text_content() == BODY
        assert row.locator("script, img").count() == 0
        assert page.locator("#results img, #results script").count() == 0
        op.screenshot()
        assert dialogs == []
        op.assert_clean()
        assert TOKEN not in page.content()
    finally:
        svc.stop()
