"""Every page in a real headless Chromium: loads without console errors, shows the states the API
gives, refreshes live, the replay control changes what is shown, and text from a target answering
`<script>` is shown literally and never runs. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.targets import wait_for
from tests.ui.browser import TIMEZONE
from tests.ui.conftest import MAINTENANCE_REASON, XSS

TIMEOUT_MS = 15_000


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_text(ts: float) -> str:
    """How the pages write an instant: the browser's zone (tests/ui/browser.py), 24-hour."""
    return datetime.fromtimestamp(ts, tz=ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M:%S")


def badge_of(page, check_id: str):
    return page.locator(f'tr[data-check="{check_id}"] .badge')


def test_overview_shows_api_states_live_with_uptime_bars_search_and_filter(ui_service, open_page):
    op = open_page()
    page = op.goto(ui_service.url + "/?refresh=1").page
    expect(page.locator("#groups .group")).to_have_count(3, timeout=TIMEOUT_MS)
    for check_id, state in ui_service.states().items():
        expect(badge_of(page, check_id)).to_have_attribute("data-state", state, timeout=TIMEOUT_MS)
    for comp in ui_service.svc.json("/api/v1/components"):
        head = page.locator(f'.group[data-component="{comp["name"]}"] .group-head .badge')
        expect(head).to_have_attribute("data-state", comp["status"])
    expect(page.locator("#banner")).to_contain_text("2 down of 3 components")
    expect(page.locator("#maintenance li")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("#maintenance")).to_contain_text("registry disk swap")

    # text from the target, literally, and nothing ran
    expect(page.locator('tr[data-check="web/xss"] td.reason')).to_contain_text(XSS)

    # 90 daily cells per component; the seeded outage's day is marked and explained on hover
    cells = page.locator('.group[data-component="paas"] svg.uptime rect')
    expect(cells).to_have_count(90, timeout=TIMEOUT_MS)
    outage_day = datetime.fromtimestamp(ui_service.seeded.outage_start, tz=UTC).date().isoformat()
    cell = page.locator(f'.group[data-component="paas"] rect[data-date="{outage_day}"]')
    expect(cell).to_have_class("down")
    cell.hover()
    expect(page.locator(".tooltip")).to_contain_text(outage_day)
    expect(page.locator(".tooltip")).to_contain_text("down: ")
    expect(page.locator('.group[data-component="registry"] .uptime-pct')).to_have_text("100%")
    # before the catalogue (ten days ago): no data, not unknown; registry's two unjudged days: unknown
    seeded = ui_service.seeded
    expect(page.locator('.group[data-component="paas"] svg.uptime rect.nodata')).to_have_count(79)
    expect(page.locator('.group[data-component="paas"] svg.uptime rect.unknown')).to_have_count(0)
    page.locator('.group[data-component="paas"] svg.uptime rect').first.hover()
    expect(page.locator(".tooltip")).to_contain_text("no data: not monitored then")
    gap_day = datetime.fromtimestamp(seeded.unknown[0] + 86400, tz=UTC).date().isoformat()
    gap_cell = page.locator(f'.group[data-component="registry"] rect[data-date="{gap_day}"]')
    expect(gap_cell).to_have_class("unknown")
    gap_cell.hover()
    expect(page.locator(".tooltip")).to_contain_text("unknown: nothing measured")
    expect(page.locator(".tooltip")).to_contain_text("unknown: 1d")

    # live: the clock moves and a change of state shows up without a reload
    first = page.locator("#asof-time").text_content()
    expect(page.locator("#asof-time")).not_to_have_text(first, timeout=TIMEOUT_MS)
    page.evaluate("() => { window.__sameDocument = true; }")
    ui_service.targets["broken"].behaviour.status = 200
    try:
        wait_for(lambda: ui_service.states()["paas/health"] == "up", what="paas/health up")
        expect(badge_of(page, "paas/health")).to_have_attribute("data-state", "up", timeout=TIMEOUT_MS)
        assert page.evaluate("() => window.__sameDocument") is True
        op.screenshot("live")
    finally:
        ui_service.targets["broken"].behaviour.status = 503
        wait_for(lambda: ui_service.states()["paas/health"] == "down", what="paas/health down again")
    expect(badge_of(page, "paas/health")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)

    # search and filters work client-side
    page.fill("#search", "xss")
    expect(page.locator("#groups .group")).to_have_count(1)
    expect(page.locator("#groups tr[data-check]")).to_have_count(1)
    page.fill("#search", "no-such-thing")
    expect(page.locator("#groups")).to_contain_text("Nothing matches.")
    page.fill("#search", "")
    page.click('#state-filter button[data-filter="problems"]')
    expect(page.locator("#groups .group")).to_have_count(2)
    expect(page.locator("#groups tr[data-check]")).to_have_count(2)
    page.click('#state-filter button[data-filter="all"]')
    page.click("#collapse-all")
    expect(page.locator("#groups tr[data-check]")).to_have_count(0)
    expect(page.locator('.group[data-component="paas"] .group-problems')).to_have_text("health (down)")
    page.locator('.group[data-component="web"] .group-head').click()
    expect(page.locator("#groups tr[data-check]")).to_have_count(1)
    op.screenshot()
    op.assert_clean()


def test_component_page_charts_checks_and_range(ui_service, open_page):
    op = open_page()
    page = op.goto(ui_service.url + "/components/paas").page
    expect(page.locator("#state")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    expect(page.locator("#checks tr[data-check]")).to_have_count(2)
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "up")
    expect(page.locator("#latency .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#latency")).to_contain_text("paas/api")
    expect(page.locator("#timeline")).to_contain_text("paas (component)")
    expect(page.locator("#uptime svg.uptime rect")).to_have_count(90)
    expect(page.locator("#uptime svg.uptime rect.nodata")).to_have_count(79)  # created ten days ago
    # the backend picks raw results or rollups for the range; the note says which
    expect(page.locator("#latency-note")).to_have_text(re.compile(r"(raw results|rollups), .*per (point|run)"))
    page.click('#range button[data-range="7d"]')
    expect(page.locator("#latency-note")).to_have_text(re.compile(r"(raw results|rollups), "), timeout=TIMEOUT_MS)
    assert "range=7d" in page.url
    expect(page.locator("#maintenance")).to_be_hidden()  # the planned window is registry's
    # the seeded outage two days ago is an incident of this component, linked to its check
    expect(page.locator("#incidents")).to_contain_text("connection refused", timeout=TIMEOUT_MS)
    expect(page.locator('#incidents a[href="/checks/paas/api"]')).to_have_count(1)
    op.screenshot()
    op.assert_clean()


def test_check_pages_show_reasons_literally_and_redact_settings(ui_service, open_page):
    op = open_page()
    page = op.goto(ui_service.url + "/checks/web/xss").page
    expect(page.locator("#state")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    expect(page.locator("#facts")).to_contain_text(XSS)
    expect(page.locator("#results tbody tr").first).to_contain_text(XSS, timeout=TIMEOUT_MS)
    expect(page.locator("#latency .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#incidents")).to_contain_text("web/xss", timeout=TIMEOUT_MS)
    op.screenshot()
    op.assert_clean()

    page = op.goto(ui_service.url + "/checks/paas/health").page
    expect(page.locator("#settings")).to_contain_text('"X-Internal": "<redacted>"', timeout=TIMEOUT_MS)
    assert "internal-header-value" not in page.content()
    expect(page.locator("#results tbody tr").first).to_contain_text("HTTP 503", timeout=TIMEOUT_MS)
    op.assert_clean()

    # a day of seeded runs, every 3 min: 5-minute points (its own default range is chosen from its data)
    page = op.goto(ui_service.url + "/checks/paas/api?range=24h").page
    expect(page.locator("#latency-note")).to_contain_text("5 min per point", timeout=TIMEOUT_MS)
    page.click('#range button[data-range="7d"]')  # at most 300 points over 7 days: hours, not "33m 43s"
    expect(page.locator("#latency-note")).to_have_text(re.compile(r"(raw results|rollups), 1 h per point$"),
                                                       timeout=TIMEOUT_MS)
    op.assert_clean()

    page = op.goto(ui_service.url + "/checks/registry/port").page  # its component's planned window
    expect(page.locator("#maintenance")).to_contain_text("Planned maintenance: registry disk swap",
                                                         timeout=TIMEOUT_MS)
    expect(page.locator("#maintenance")).to_contain_text(MAINTENANCE_REASON)
    op.assert_clean()

    page = op.goto(ui_service.url + "/checks/registry/old-mirror").page  # retired: history only
    expect(page.locator("#state")).to_have_text("retired")
    expect(page.locator("#uptime svg.uptime rect")).to_have_count(90, timeout=TIMEOUT_MS)
    # retired a day ago: the last 24 h have no state of it; a week has, up to its retirement
    expect(page.locator("#timeline")).to_contain_text("No state recorded in this range.", timeout=TIMEOUT_MS)
    page.click('#range button[data-range="7d"]')
    expect(page.locator("#timeline .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    op.assert_clean()


def test_replay_shows_the_platform_as_it_was_and_steps_between_changes(ui_service, open_page):
    seeded = ui_service.seeded
    during = seeded.outage_start + 3600
    window = f"from={iso(seeded.outage_start - 6 * 3600)}&to={iso(seeded.outage_end + 6 * 3600)}"
    op = open_page()
    page = op.goto(f"{ui_service.url}/replay?at={iso(during)}&{window}").page
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    expect(page.locator('tr[data-check="paas/api"] td.reason')).to_have_text("connection refused")
    expect(badge_of(page, "registry/old-mirror")).to_have_attribute("data-state", "up")  # retired since
    expect(badge_of(page, "web/xss")).to_have_attribute("data-state", "up")  # before its failures
    expect(page.locator("#asof-time")).to_have_text(local_text(during))  # the browser's zone, named
    expect(page.locator("#asof-zone")).to_contain_text(TIMEZONE)
    expect(page.locator("#asof")).to_have_class(re.compile("replay"))
    expect(page.locator("#timeline .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#changes tbody tr")).to_have_count(4, timeout=TIMEOUT_MS)  # paas/api and paas: down, up
    op.screenshot("outage")

    page.click("#next-change")
    expect(page.locator("#replay-at")).to_contain_text(local_text(seeded.outage_end), timeout=TIMEOUT_MS)
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "up", timeout=TIMEOUT_MS)
    page.click("#prev-change")
    expect(page.locator("#replay-at")).to_contain_text(local_text(seeded.outage_start), timeout=TIMEOUT_MS)
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)

    # the time field is in the zone the page shows, 24-hour whatever the browser's locale; before
    # anything was monitored: empty
    page.fill("#at-input", local_text(seeded.first_seen - 3600))
    page.dispatch_event("#at-input", "change")
    expect(page.locator("#banner")).to_have_text("Nothing was monitored yet at this instant.", timeout=TIMEOUT_MS)
    expect(page.locator("#asof-time")).to_have_text(local_text(seeded.first_seen - 3600))

    # an instant outside the (default, last 24 h) window moves the window to it
    page.goto(f"{ui_service.url}/replay?at={iso(during)}")
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    expect(page).to_have_url(re.compile("from=.*to="))
    page.click("#to-now")
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "up", timeout=TIMEOUT_MS)
    expect(page).to_have_url(re.compile("range=24h"))

    # the slider picks an instant within the window: its end is after the outage
    page.goto(f"{ui_service.url}/replay?at={iso(during)}&{window}")
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    page.fill("#at-slider", "1000")
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "up", timeout=TIMEOUT_MS)
    # a change's time in the list replays it
    page.locator("#changes tbody tr", has_text="connection refused").first.locator("td a").first.click()
    expect(badge_of(page, "paas/api")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    op.screenshot()
    op.assert_clean()


def test_incidents_page_lists_incidents_linked_to_checks(ui_service, open_page):
    # the seeded outage, paas and web failing now, and whatever earlier tests did to paas/health
    expected = ui_service.svc.json("/api/v1/incidents?alerts=true&from=" + iso(time.time() - 7 * 86400))
    assert len(expected) >= 3
    op = open_page()
    page = op.goto(ui_service.url + "/incidents").page
    rows = page.locator("#incidents tbody tr")
    expect(rows).to_have_count(len(expected), timeout=TIMEOUT_MS)
    expect(rows.filter(has_text="connection refused")).to_have_count(1)
    expect(page.locator("#incidents")).to_contain_text("ongoing")
    expect(page.locator("#incidents")).to_contain_text(XSS)
    expect(page.locator("#timeline .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    # what was alerted (receivers, outcomes) shows in full: the cell wraps, nothing is cut off
    alerted = [i for i in expected if i["alerts"]]
    assert alerted, "the seed has incidents with alerts"
    expect(page.locator("#incidents td.alerts .alert-line").first).to_be_visible(timeout=TIMEOUT_MS)
    clipped = page.eval_on_selector_all(
        "#incidents td.alerts", "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).length")
    assert clipped == 0
    page.fill("#search", "web")
    expect(rows).to_have_count(1)
    op.screenshot()
    page.locator('#incidents a[href="/checks/web/xss"]').first.click()
    expect(page).to_have_url(re.compile("/checks/web/xss$"))
    expect(page.locator("#state")).to_have_attribute("data-state", "down", timeout=TIMEOUT_MS)
    op.assert_clean()


def test_public_status_page_in_light_and_dark(ui_service, open_page):
    states = {c["name"]: c["status"] for c in ui_service.svc.json("/api/v1/components")}
    for dark in (False, True):
        op = open_page(dark=dark, width=1100)
        page = op.goto(ui_service.url + "/status").page
        expect(page.locator("#components .component")).to_have_count(3, timeout=TIMEOUT_MS)
        for name, state in states.items():
            expect(page.locator(f'.component[data-component="{name}"] .badge')).to_have_attribute(
                "data-state", state)
        expect(page.locator('.component[data-component="registry"] .badge')).to_have_text("operational")
        expect(page.locator("#components svg.uptime")).to_have_count(3)
        expect(page.locator("#components svg.uptime rect.nodata")).to_have_count(3 * 79)  # before they existed
        gap_day = datetime.fromtimestamp(ui_service.seeded.unknown[0] + 86400, tz=UTC).date().isoformat()
        expect(page.locator(f'.component[data-component="registry"] rect[data-date="{gap_day}"]')).to_have_class(
            "unknown")
        expect(page.locator("#incidents tbody tr").first).to_be_visible()
        expect(page.locator("#maintenance")).to_contain_text("Planned maintenance: registry disk swap")
        expect(page.locator("#maintenance")).to_contain_text("registry")
        assert MAINTENANCE_REASON not in page.content()
        assert page.locator("main a:not([data-lang])").count() == 0  # no way into the internal pages
        assert page.locator("main a[data-lang]").get_attribute("href") == "/language/zh-CN?next=/status"
        assert "reason" not in page.locator("main").inner_text().lower()
        op.screenshot("dark" if dark else "")
        op.assert_clean()
