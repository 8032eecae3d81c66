"""The overview's banner reads as English for one component too (issue 14, item 8: "All 1
components up"): the page is fed a one-component answer through a route intercept."""

from __future__ import annotations

import json
from email.utils import formatdate

from playwright.sync_api import expect

TIMEOUT_MS = 15_000

COMPONENT = {"name": "web", "status": "up", "since": "2026-12-01T00:00:00Z", "checks": {"up": 1},
             "check_ids": ["web/home"], "title": "web", "group": None, "description": None}
CHECK = {"id": "web/home", "name": "home", "component": "web", "kind": "http", "interval": 30.0, "labels": {},
         "state": {"status": "up", "since": "2026-12-01T00:00:00Z", "reason": "HTTP 200"}, "last_result": None}


def answer(body: object):
    def fulfil(route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body),
                      headers={"Date": formatdate(usegmt=True)})

    return fulfil


def banner_with(page_opener, url: str, components: list[dict], checks: list[dict]) -> str:
    op = page_opener()
    page = op.page
    page.route("**/api/v1/components", answer(components))
    page.route("**/api/v1/checks?*", answer(checks))
    page.route("**/api/v1/checks", answer(checks))
    op.goto(url + "/")
    banner = page.locator("#banner")
    expect(banner).not_to_be_empty(timeout=TIMEOUT_MS)
    return banner


def test_one_component_up_is_said_in_the_singular(ui_service, open_page):
    banner = banner_with(open_page, ui_service.url, [COMPONENT], [CHECK])
    expect(banner).to_have_text("upThe 1 component is up", timeout=TIMEOUT_MS)


def test_one_component_down_is_of_one_component(ui_service, open_page):
    down = {**COMPONENT, "status": "down", "checks": {"down": 1}}
    check = {**CHECK, "state": {**CHECK["state"], "status": "down"}}
    banner = banner_with(open_page, ui_service.url, [down], [check])
    expect(banner).to_contain_text("1 down of 1 component —", timeout=TIMEOUT_MS)
