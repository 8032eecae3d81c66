"""Components by the names people read: `components.<name>.title`, `group` and `description` from
the config reach /api/v1/components and /status/data, and Chromium shows them on the public status
page (grouped, groups in config order, ungrouped first), the overview, the component page and the
incident and replay lists. A component without them is shown by its name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

TIMEOUT_MS = 15_000
EU_DESCRIPTION = "Container images for the EU clusters"
PAAS_DESCRIPTION = "The API every deployment goes through"
ORDER = ["dns", "registry-us", "registry-eu", "paas-api"]
"""/status/data's order: ungrouped first, then Registries (listed first in the config, though
Platform sorts before it), its components as the config lists them (us before eu), Platform."""


def names_config(ok: HttpTarget, broken: HttpTarget, db: str, port: int) -> str:
    return f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 500ms, timeout: 500ms, failure_threshold: 1}}
components:
  registry-us: {{title: "US registry", group: Registries}}
  registry-eu: {{title: "EU registry", group: Registries, description: "{EU_DESCRIPTION}"}}
  paas-api: {{title: "Platform API", group: Platform, description: "{PAAS_DESCRIPTION}"}}
  "*": {{slo: 99.5}}
checks:
  - {{name: pull, component: registry-eu, kind: http, url: "{ok.url}/v2"}}
  - {{name: pull, component: registry-us, kind: http, url: "{broken.url}/v2"}}
  - {{name: api, component: paas-api, kind: http, url: "{ok.url}/api"}}
  - {{name: resolve, component: dns, kind: tcp, host: 127.0.0.1, port: {ok.port}}}
"""


@pytest.fixture(scope="module")
def named(tmp_path_factory) -> Iterator[ServiceThread]:
    ok, broken = HttpTarget(), HttpTarget()
    broken.behaviour.status = 503
    port = free_port()
    db = tmp_path_factory.mktemp("names") / "pm.db"
    svc = ServiceThread(create_app(parse_config(names_config(ok, broken, str(db), port))), port).start()
    try:
        wait_for(lambda: {c["name"]: c["status"] for c in svc.json("/api/v1/components")} == {
            "registry-eu": "up", "registry-us": "down", "paas-api": "up", "dns": "up"},
            what="the components' states settled")
        yield svc
    finally:
        svc.stop()
        ok.close()
        broken.close()


def test_the_api_gives_each_component_its_title_group_and_description(named):
    comps = {c["name"]: c for c in named.json("/api/v1/components")}
    assert {k: comps["registry-eu"][k] for k in ("title", "group", "description")} == {
        "title": "EU registry", "group": "Registries", "description": EU_DESCRIPTION}
    assert {k: comps["registry-us"][k] for k in ("title", "group", "description")} == {
        "title": "US registry", "group": "Registries", "description": ""}
    # no entry of its own, only the "*" pattern's SLO: its name, no group, no description
    assert {k: comps["dns"][k] for k in ("title", "group", "description")} == {
        "title": "dns", "group": None, "description": ""}
    assert {"name", "status", "since", "checks", "check_ids"} <= set(comps["dns"])  # nothing renamed


def test_the_status_data_carries_them_in_the_configs_order(named):
    data = named.json("/status/data")
    assert [(c["name"], c["title"], c["group"], c["description"]) for c in data["components"]] == [
        ("dns", "dns", None, ""),
        ("registry-us", "US registry", "Registries", ""),
        ("registry-eu", "EU registry", "Registries", EU_DESCRIPTION),
        ("paas-api", "Platform API", "Platform", PAAS_DESCRIPTION),
    ]
    assert [c["name"] for c in data["components"]] == ORDER


def test_the_status_page_groups_components_under_their_titles(named, open_page):
    op = open_page(width=1100)
    page = op.goto(named.url + "/status").page
    groups = page.locator("#components > .component-group")
    expect(groups).to_have_count(3, timeout=TIMEOUT_MS)
    assert [g.get_attribute("data-group") for g in groups.all()] == ["", "Registries", "Platform"]
    expect(page.locator("#components .group-line h2")).to_have_text(["Registries", "Platform"])
    assert groups.nth(0).locator(".group-line").count() == 0  # the ungrouped have no heading
    expect(groups.nth(1).locator(".group-line .badge")).to_have_attribute("data-state", "down")  # US is down
    expect(groups.nth(1).locator(".group-line .badge")).to_have_text("outage")
    expect(groups.nth(2).locator(".group-line .badge")).to_have_attribute("data-state", "up")
    expect(page.locator("#components .component .name")).to_have_text(
        ["dns", "US registry", "EU registry", "Platform API"])
    assert [c.get_attribute("data-component") for c in page.locator("#components .component").all()] == ORDER
    eu = page.locator('.component[data-component="registry-eu"]')
    expect(eu.locator(".description")).to_have_text(EU_DESCRIPTION)
    expect(eu.locator(".description")).to_be_visible()
    expect(page.locator('.component[data-component="paas-api"] .description')).to_have_text(PAAS_DESCRIPTION)
    expect(page.locator('.component[data-component="registry-us"] .description')).to_be_hidden()
    expect(page.locator('.component[data-component="dns"] .description')).to_be_hidden()
    # the ongoing incident is named by its title too; the raw ids are not shown to readers
    expect(page.locator("#incidents tbody tr").first).to_contain_text("US registry", timeout=TIMEOUT_MS)
    shown = page.locator("main").inner_text()
    assert not [n for n in ("registry-us", "registry-eu", "paas-api") if n in shown], shown
    op.screenshot()
    op.assert_clean()


def test_the_overview_shows_titles_with_the_name_as_a_hint(named, open_page):
    op = open_page()
    page = op.goto(named.url + "/").page
    eu = page.locator('.group[data-component="registry-eu"] .group-name')
    expect(eu.locator("a.comp-title")).to_have_text("EU registry", timeout=TIMEOUT_MS)
    expect(eu.locator("a.comp-title")).to_have_attribute("href", "/components/registry-eu")
    expect(eu.locator(".name-hint")).to_have_text("registry-eu")
    dns = page.locator('.group[data-component="dns"] .group-name')
    expect(dns).to_have_text("dns")
    assert dns.locator(".name-hint").count() == 0
    page.locator("#search").fill("platform api")  # the search finds a component by its title
    expect(page.locator(".group")).to_have_count(1)
    expect(page.locator(".group").first).to_have_attribute("data-component", "paas-api")
    op.screenshot()
    op.assert_clean()


def test_the_component_page_is_headed_by_title_and_description(named, open_page):
    op = open_page()
    page = op.goto(named.url + "/components/registry-eu").page
    expect(page.locator("h1#title")).to_have_text("EU registry")
    expect(page.locator("#component-name")).to_have_text("registry-eu")
    expect(page.locator("#description")).to_have_text(EU_DESCRIPTION)
    assert page.title().startswith("EU registry")
    op.screenshot()
    op.goto(named.url + "/components/dns")
    expect(page.locator("h1#title")).to_have_text("dns")
    assert page.locator("#component-name, #description").count() == 0
    expect(page.locator("#state")).to_have_attribute("data-state", "up", timeout=TIMEOUT_MS)
    op.assert_clean()


def test_incident_and_change_lists_name_components_by_title(named, open_page):
    op = open_page()
    page = op.goto(named.url + "/incidents").page
    cell = page.locator('#incidents td[data-component="registry-us"]').first
    expect(cell.locator("a.comp-title")).to_have_text("US registry", timeout=TIMEOUT_MS)
    expect(cell.locator(".name-hint")).to_have_text("registry-us")
    page.locator("#search").fill("us registry")  # found by its title
    expect(page.locator("#incidents tbody tr")).not_to_have_count(0)
    expect(page.locator("#incidents tbody td[data-component]")).to_have_text(
        ["US registry registry-us"] * page.locator("#incidents tbody tr").count())
    op.goto(named.url + "/replay")
    change = page.locator('#changes a[href="/components/registry-us"]').first
    expect(change).to_have_text("US registry", timeout=TIMEOUT_MS)
    expect(page.locator('.group[data-component="registry-us"] a.comp-title')).to_have_text("US registry",
                                                                                           timeout=TIMEOUT_MS)
    op.assert_clean()
