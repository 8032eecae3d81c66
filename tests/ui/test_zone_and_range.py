"""Times in `ui.timezone` with the zone named, time fields in one form whatever the browser's
locale, timelines opening on a range chosen from the data, and state badges never cut (issue 14,
items 8 and 11)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from dashboards import figures
from dashboards.i18n import words
from dashboards.timeline_series import Interval
from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

TIMEOUT_MS = 15_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_figures_draw_the_zones_wall_clock_and_name_it_in_the_readers_words():
    t0 = datetime(2026, 3, 10, 15, 30, tzinfo=UTC).timestamp()  # 23:30 in Shanghai
    fig = figures.timeline_figure([("paas", [Interval(t0, t0 + 3600, "down", "HTTP 503")])], start=t0 - 3600,
                                  end=t0 + 7200, tz=SHANGHAI, said=words("zh-CN"))
    assert fig.layout.xaxis.title.text == "Asia/Shanghai"
    assert fig.layout.xaxis.range[0].startswith("2026-03-10 22:30")
    down = next(t for t in fig.data if t.name == "故障")
    assert down.base[0].startswith("2026-03-10 23:30") and "故障，持续 1小时" in down.hovertext[0]  # noqa: RUF001
    assert "2026-03-10 23:30:00 → 2026-03-11 00:30:00 Asia/Shanghai" in down.hovertext[0]
    english = figures.timeline_figure([("paas", [Interval(t0, t0 + 3600, "down")])], start=t0, end=t0 + 7200)
    assert english.layout.xaxis.title.text == "UTC" and english.data[0].name == "down"


@pytest.fixture(scope="module")
def shanghai(tmp_path_factory) -> Iterator[ServiceThread]:
    """A service configured for Chinese readers in Shanghai: `ui.language` and `ui.timezone`."""
    target = HttpTarget()
    db = tmp_path_factory.mktemp("zone") / "pm.db"
    port = free_port()
    config = f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 500ms, timeout: 500ms, failure_threshold: 1}}
ui: {{language: zh-CN, timezone: Asia/Shanghai}}
checks:
  - {{name: api, component: paas, kind: http, url: "{target.url}/api"}}
"""
    svc = ServiceThread(create_app(parse_config(config)), port).start()
    try:
        wait_for(lambda: svc.json("/api/v1/checks")[0]["state"]["status"] == "up", what="the check up")
        yield svc
    finally:
        svc.stop()
        target.close()


def test_the_configured_zone_and_language_win_over_the_browsers(shanghai, open_page):
    op = open_page(locale="en-US")  # a browser in New York reading English
    page = op.goto(shanghai.url + "/components/paas").page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.locator("#asof-zone")).to_have_text("Asia/Shanghai (UTC+08:00)", timeout=TIMEOUT_MS)
    shown = page.locator("#asof-time").text_content()
    assert shown is not None and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown)
    then = datetime.strptime(shown, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    assert abs(then.timestamp() - time.time()) < 120  # Shanghai's clock, not New York's or UTC
    expect(page.locator("#range [data-zone-label]")).to_have_text("Asia/Shanghai (UTC+08:00)")
    expect(page.locator("#timeline .xtitle")).to_have_text("Asia/Shanghai", timeout=TIMEOUT_MS)
    expect(page.locator("#checks thead")).to_contain_text("状态")
    checks = shanghai.json("/api/v1/checks")  # the API answers in UTC whatever the pages show
    assert checks[0]["state"]["since"].endswith(("Z", "+00:00"))
    op.screenshot("shanghai")
    op.assert_clean()


def test_time_fields_read_and_write_the_pages_clock_whatever_the_browsers_locale(ui_service, open_page):
    """Not a datetime-local in the browser's locale (12-hour, day first ...) beside 24-hour times:
    one form, YYYY-MM-DD HH:MM[:SS], in the zone the page shows."""
    op = open_page(locale="en-US")
    page = op.goto(ui_service.url + "/replay").page
    expect(page.locator("#asof-time")).not_to_have_text("—", timeout=TIMEOUT_MS)
    at = page.locator("#at-input")
    assert at.get_attribute("type") == "text"
    expect(at).to_have_value(page.locator("#asof-time").text_content() or "")
    for field in page.locator("#range input.when").all():
        assert field.get_attribute("type") == "text"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", field.input_value())
    op = open_page(locale="en-US")
    page = op.goto(ui_service.url + "/alerts").page
    start = page.locator("#maintenance-start")
    assert start.get_attribute("type") == "text" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", start.input_value())
    expect(page.locator("#maintenance-form [data-zone-label]")).to_have_text(re.compile(r"^America/New_York"))
    op.assert_clean()


def fitted(since: str, now: float) -> str:
    """The preset the pages choose (dashboards/static/js/lib/range.js fitPreset): the shortest
    showing the current state's start at a quarter of the width or more."""
    age = now - datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
    spans = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
    return next((p for p, s in spans.items() if s >= 4 * age), "30d")


def test_a_fresh_outage_opens_on_a_range_it_fills(ui_service, open_page):
    check = next(c for c in ui_service.svc.json("/api/v1/checks") if c["id"] == "paas/health")
    assert check["state"]["status"] == "down"
    op = open_page()
    page = op.goto(ui_service.url + "/checks/paas/health").page
    expect(page.locator("#timeline .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    chosen = page.locator("#range button[aria-pressed=true]").get_attribute("data-range")
    assert chosen == fitted(check["state"]["since"], time.time()) and chosen != "24h"
    # the outage's bar: a visible share of the plot, not a pixel
    bars = page.locator("#timeline .trace.bars path")
    widths = [b["width"] for b in (bar.bounding_box() for bar in bars.all()) if b]
    plot = page.locator("#timeline .nsewdrag").first.bounding_box()
    assert plot and max(widths) > 0 and any(w >= plot["width"] / 8 for w in widths), (widths, plot)
    op.screenshot()
    # a stable component opens on a long range; an explicit ?range= is kept
    page.goto(ui_service.url + "/components/registry")
    expect(page.locator("#range button[aria-pressed=true]")).not_to_have_attribute("data-range", "24h",
                                                                                 timeout=TIMEOUT_MS)
    page.goto(ui_service.url + "/components/registry?range=6h")
    expect(page.locator("#range button[aria-pressed=true]")).to_have_attribute("data-range", "6h")
    op.assert_clean()


BADGES_FIT = """() => [...document.querySelectorAll("table.rows td .badge")].filter((b) => b.offsetParent)
  .map((b) => { const cell = b.closest("td").getBoundingClientRect(); const r = b.getBoundingClientRect();
    return { text: b.textContent, cut: r.right > cell.right + 0.5 || b.scrollWidth > b.clientWidth + 1 }; })"""


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_state_badges_are_never_cut_by_their_column(ui_service, open_page, lang):
    """Every state word, in each language, in the narrowest state column: a degraded check
    (fed to the overview), incidents, deliveries."""
    op = open_page(locale=lang, width=1000)
    page = op.page
    checks = ui_service.svc.json("/api/v1/checks")
    states = ["degraded", "unknown", "down", "up"]
    fed = [{**c, "state": {**c["state"], "status": states[i % len(states)]}} for i, c in enumerate(checks)]
    page.route("**/api/v1/checks?*", lambda route: route.fulfill(json=fed))
    page.route("**/api/v1/checks", lambda route: route.fulfill(json=fed))
    op.goto(ui_service.url + "/")
    expect(page.locator("table.rows td .badge[data-state=degraded]").first).to_be_visible(timeout=TIMEOUT_MS)
    found = page.evaluate(BADGES_FIT)
    assert found and not [b for b in found if b["cut"]], found
    for path in ("/incidents?range=30d", "/alerts"):
        page.unroute("**/api/v1/checks?*")
        op.goto(ui_service.url + path)
        page.wait_for_timeout(1500)
        found = page.evaluate(BADGES_FIT)
        assert not [b for b in found if b["cut"]], (path, found)
    op.screenshot()
