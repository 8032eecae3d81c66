"""The UI suite's service: a few checks against real loopback HTTP targets (one healthy, one
failing, one answering `<script>` in the text that becomes its reason) over a seeded history;
and one headless Chromium, both shared by the whole UI suite (package scope)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for
from tests.ui.browser import Browser, OpenPage
from tests.ui.seed import Seeded, seed_history

XSS = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=1>"
"""A target's answer that would run if any page put text from targets into HTML."""


class UiService:
    def __init__(self, svc: ServiceThread, seeded: Seeded, targets: dict[str, HttpTarget]) -> None:
        self.svc, self.seeded, self.targets = svc, seeded, targets
        self.url = svc.url

    def states(self) -> dict[str, str]:
        return {c["id"]: c["state"]["status"] for c in self.svc.json("/api/v1/checks")}


MAINTENANCE_REASON = "internal change ticket CHG-1234"
"""A planned window's reason: internal, shown on internal pages, never on the public one."""


def ui_config(targets: dict[str, HttpTarget], db: str, port: int, *, extra: str = "") -> str:
    upcoming = datetime.fromtimestamp(time.time() + 86400, tz=UTC).isoformat()  # planned: tomorrow
    return f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 500ms, timeout: 500ms, failure_threshold: 1}}
ui: {{title: "Example Platform status"}}
checks:
  - {{name: api, component: paas, kind: http, url: "{targets['ok'].url}/api"}}
  - {{name: health, component: paas, kind: http, url: "{targets['broken'].url}/healthz",
      headers: {{X-Internal: "internal-header-value"}}}}
  - {{name: port, component: registry, kind: tcp, host: 127.0.0.1, port: {targets['ok'].port}}}
  - name: xss
    component: web
    kind: http
    url: "{targets['xss'].url}/page"
    expect: {{json: [{{path: status, equals: ok}}]}}
maintenance:
  - {{name: "registry disk swap", reason: "{MAINTENANCE_REASON}", components: [registry],
      start: "{upcoming}", duration: 1h}}
{extra}"""


CONFIG_CHECKS = {
    "paas/api": ("paas", "api", "http"),
    "paas/health": ("paas", "health", "http"),
    "registry/port": ("registry", "port", "tcp"),
    "web/xss": ("web", "xss", "http"),
}


@pytest.fixture(scope="package")
def ui_service(tmp_path_factory) -> Iterator[UiService]:
    targets = {name: HttpTarget() for name in ("ok", "broken", "xss")}
    targets["broken"].behaviour.status = 503
    targets["xss"].behaviour.body = json.dumps({"status": XSS}).encode()
    db = tmp_path_factory.mktemp("ui") / "pm.db"
    seeded = seed_history(f"sqlite:///{db}", now=time.time(), checks=CONFIG_CHECKS)
    port = free_port()
    svc = ServiceThread(create_app(parse_config(ui_config(targets, db, port))), port).start()
    ui = UiService(svc, seeded, targets)
    try:
        wait_for(lambda: ui.states() == {"paas/api": "up", "paas/health": "down", "registry/port": "up",
                                         "web/xss": "down"}, what="the checks' states settled")
        yield ui
    finally:
        svc.stop()
        for target in targets.values():
            target.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with Browser.launch() as b:
        yield b


@pytest.fixture
def open_page(browser, request) -> Iterator[Callable[..., OpenPage]]:
    """`open_page(width=, height=, dark=)`: a fresh page (own context, closed after the test)
    whose screenshots carry the test's name."""
    opened: list[OpenPage] = []

    def make(**kw) -> OpenPage:
        opened.append(browser.open(request.node.name, **kw))
        return opened[-1]

    yield make
    for op in opened:
        op.page.context.close()
