"""Readable at 1,000+ checks: 1,200 real TCP checks in 40 components. Groups start collapsed (no
check rows in the DOM), search and the state filter work client-side, a large group draws its
first rows and offers the rest; the replay draws the same platform from storage."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import ServiceThread, wait_for

COMPONENTS = 40
SMALL = 24  # checks in each of 39 components ...
LARGE = 1200 - 39 * SMALL  # ... and in "nodes": more than a group draws at once (200)
DOWN = {"comp-07", "comp-21"}  # their first check probes a closed port
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def big_service(tmp_path_factory) -> Iterator[ServiceThread]:
    # Connections complete in the kernel's backlog: 1,200 probes need no accepting thread.
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    open_port, closed_port = listener.getsockname()[1], free_port()
    lines = []
    for c in range(COMPONENTS - 1):
        comp = f"comp-{c:02d}"
        for i in range(SMALL):
            port = closed_port if comp in DOWN and i == 0 else open_port
            lines.append(f"  - {{name: c-{c:02d}-{i:03d}, component: {comp}, kind: tcp, host: 127.0.0.1, "
                         f"port: {port}}}")
    lines += [f"  - {{name: node-{i:04d}, component: nodes, kind: tcp, host: 127.0.0.1, port: {open_port}}}"
              for i in range(LARGE)]
    db = tmp_path_factory.mktemp("scale") / "pm.db"
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 5s, timeout: 2s, failure_threshold: 1}}
checks:
""" + "\n".join(lines))
    svc = ServiceThread(create_app(config), port).start()
    try:
        wait_for(lambda: all(c["state"]["status"] != "unknown" for c in svc.json("/api/v1/checks")),
                 timeout=30, interval=0.5, what="every check ran once")  # phases spread over 5 s
        # the state changes are in storage too: the replay reads them
        wait_for(lambda: all(c["since"] for c in svc.json(f"/api/v1/snapshot?at={iso_now()}")["checks"]),
                 timeout=30, interval=0.5, what="state changes stored")
        yield svc
    finally:
        svc.stop()
        listener.close()


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def test_overview_at_1200_checks(big_service, open_page):
    started = time.perf_counter()
    data = httpx.get(big_service.url + "/api/v1/checks", headers={"Accept-Encoding": "gzip"}, timeout=10)
    took = time.perf_counter() - started
    assert len(data.json()) == 1200 and took < 2.0
    assert data.headers["content-encoding"] == "gzip" and data.num_bytes_downloaded < len(data.content) / 4

    op = open_page()
    page = op.goto(big_service.url + "/").page
    groups = page.locator("#groups .group")
    expect(groups).to_have_count(COMPONENTS, timeout=TIMEOUT_MS)
    expect(page.locator("#counts")).to_have_text("40 of 40 components · 1200 of 1200 checks")
    assert page.locator("#groups tr[data-check]").count() == 0  # collapsed: no rows drawn
    expect(page.locator(".group-problems", has_text="c-07-000 (down)")).to_have_count(1)
    expect(page.locator("#banner")).to_contain_text("2 down of 40 components")
    expect(page.locator("#groups svg.uptime")).to_have_count(COMPONENTS, timeout=TIMEOUT_MS)
    op.screenshot(full_page=False)

    page.fill("#search", "c-21-000")
    expect(groups).to_have_count(1)
    expect(page.locator('#groups tr[data-check="comp-21/c-21-000"] .badge')).to_have_attribute("data-state", "down")
    page.fill("#search", "")
    page.click('#state-filter button[data-filter="problems"]')
    expect(groups).to_have_count(2)
    page.click('#state-filter button[data-filter="all"]')

    page.locator('.group[data-component="nodes"] .group-head').click()
    rows = page.locator('.group[data-component="nodes"] tr[data-check]')
    expect(rows).to_have_count(200)
    page.get_by_role("button", name=f"Show all {LARGE} checks").click()
    expect(rows).to_have_count(LARGE)

    started = time.perf_counter()
    page.click("#expand-all")
    expect(page.locator("#groups tr[data-check]")).to_have_count(1200, timeout=TIMEOUT_MS)
    assert time.perf_counter() - started < 5.0
    op.assert_clean()

    page = op.goto(big_service.url + "/components/nodes").page  # 264 checks: charts draw the first ones
    expect(page.locator("#checks tr[data-check]")).to_have_count(LARGE, timeout=TIMEOUT_MS)
    expect(page.locator("#latency-note")).to_contain_text(f"{LARGE - 10} more checks not drawn", timeout=TIMEOUT_MS)
    expect(page.locator("#timeline-note")).to_contain_text(f"{LARGE - 60} more checks not drawn")
    op.assert_clean()

    page = op.goto(big_service.url + "/replay").page
    expect(page.locator("#groups .group")).to_have_count(COMPONENTS, timeout=TIMEOUT_MS)
    expect(page.locator("#counts")).to_have_text("40 of 40 components · 1200 of 1200 checks")
    op.screenshot("replay", full_page=False)
    op.assert_clean()
