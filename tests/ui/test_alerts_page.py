"""The Alerts page in Chromium against a real service: a check failing (so an alert fires) and a
webhook receiver pointed at a closed port (so its deliveries fail). The page lists both; the
banner on every page names the failing receiver; acknowledge, silence, end a silence and a
maintenance window go through the forms with the API token (a wrong one is refused, plainly);
a config file edited into something invalid raises the config banner with the refusal's reason."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import load_config, parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

TIMEOUT_MS = 15_000
TOKEN = "alerts-ui-token-5f2c9e"
KEY = "check:paas/web"
REFUSED = "connection refused"  # what a closed loopback port answers a receiver (probes.base.os_error_reason)


@dataclass
class AlertsService:
    svc: ServiceThread
    path: Path
    text: str
    hook_url: str

    @property
    def url(self) -> str:
        return self.svc.url

    def alerts(self) -> dict:
        return self.svc.json("/api/v1/alerts")


def config_text(*, port: int, db: Path, target: HttpTarget, hook_url: str) -> str:
    return f"""
server: {{host: 127.0.0.1, port: {port}, api_token: "{TOKEN}"}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 300ms, timeout: 300ms, failure_threshold: 1}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/healthz", labels: {{team: platform}}}}
alerts:
  repeat_interval: 0s
  delivery: {{initial_backoff: 200ms, max_backoff: 1s}}
  receivers:
    - {{name: hook, kind: webhook, url: "{hook_url}"}}
"""


@pytest.fixture(scope="module")
def alerts_service(tmp_path_factory) -> Iterator[AlertsService]:
    target = HttpTarget()
    target.behaviour.status = 503
    tmp = tmp_path_factory.mktemp("alerts-ui")
    hook_url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: every delivery is refused
    port = free_port()
    text = config_text(port=port, db=tmp / "pm.db", target=target, hook_url=hook_url)
    path = tmp / "config.yaml"
    path.write_text(text)
    svc = ServiceThread(create_app(load_config(path), config_path=path), port).start()
    try:
        ours = AlertsService(svc, path, text, hook_url)
        wait_for(lambda: any(d["outcome"] == "pending" and d["last_error"] for d in ours.alerts()["deliveries"]),
                 what="the firing alert's delivery failing")
        yield ours
    finally:
        svc.stop()
        target.close()


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def set_token(page, value: str, name: str = "") -> None:
    page.fill("#token", value)
    if name:
        page.fill("#operator", name)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-state")).to_contain_text("Token set")


def refused_loads(op) -> None:
    """Drop the console errors Chromium logs by itself for answers it was meant to get (401/403)."""
    op.errors = [e for e in op.errors if "status of 401" not in e and "status of 403" not in e]


def test_the_page_lists_the_firing_alert_and_the_failing_delivery(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts?refresh=1").page
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Alerts")
    firing = page.locator(f'#firing tr[data-alert="{KEY}"]')
    expect(firing).to_have_count(1, timeout=TIMEOUT_MS)
    expect(firing).to_contain_text("critical")
    expect(firing.locator(".labels")).to_have_text("team=platform kind=http")
    expect(firing.locator("td.acked")).to_have_text("no")
    expect(firing.locator("td").nth(2)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*for \d+"))
    expect(page.locator("#firing-count")).to_have_text("1 alert firing")

    delivery = page.locator('#deliveries tr[data-receiver="hook"][data-outcome="pending"]').first
    expect(delivery).to_contain_text(REFUSED, timeout=TIMEOUT_MS)
    expect(delivery).to_contain_text(KEY)
    receiver = page.locator('#receivers tr[data-receiver="hook"]')
    expect(receiver).to_contain_text("webhook")
    expect(receiver).to_contain_text("failing")
    expect(receiver.locator(".last-error")).to_contain_text(REFUSED)
    expect(receiver.locator(".depth")).to_have_text(re.compile(r"^[1-9]\d*$"))

    banner = page.locator('#ops-banners [data-banner="receiver"]')
    expect(banner).to_have_text(re.compile(rf"^Alert deliveries to hook are failing: .*{REFUSED}.* — see Alerts$"))
    op.screenshot()
    op.assert_clean()


def test_the_receiver_banner_shows_on_other_pages(alerts_service, open_page):
    op = open_page()
    for path in ("/", "/incidents"):
        page = op.goto(alerts_service.url + path).page
        banner = page.locator('#ops-banners [data-banner="receiver"][data-receiver="hook"]')
        expect(banner).to_contain_text("Alert deliveries to hook are failing: ", timeout=TIMEOUT_MS)
        expect(banner).to_contain_text(REFUSED)
        expect(banner.locator("a")).to_have_attribute("href", "/alerts")
        expect(page.locator('#ops-banners [data-banner="config"]')).to_have_count(0)
    op.screenshot()
    op.assert_clean()


def test_a_wrong_token_is_refused_with_a_message(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts").page
    expect(page.locator(f'#firing tr[data-alert="{KEY}"] button.ack')).to_be_visible(timeout=TIMEOUT_MS)
    set_token(page, "not-the-token")
    page.click(f'#firing tr[data-alert="{KEY}"] button.ack')
    message = page.locator("#write-message")
    expect(message).to_have_text("The service refused the API token (401): enter the token set as "
                                 "server.api_token.")
    expect(message).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#token-state")).to_have_text("No token: writes are refused.")  # asked again
    set_token(page, "still-not-the-token")
    page.fill("#silence-matchers", "component=nowhere")
    page.fill("#silence-duration", "1h")
    page.fill("#silence-comment", "wrong token")
    page.click("#silence-form button[type=submit]")
    expect(message).to_contain_text("(401)")
    op.screenshot()
    [alert] = [a for a in alerts_service.alerts()["firing"] if a["key"] == KEY]
    assert alert["acknowledged_by"] is None
    assert not [s for s in alerts_service.svc.json("/api/v1/silences") if s["comment"] == "wrong token"]
    refused_loads(op)
    op.assert_clean()


def test_acknowledge_through_the_form(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts").page
    set_token(page, TOKEN, "ann")
    # kept for this tab only, never in the URL or localStorage
    assert page.evaluate("() => Object.values(sessionStorage)").count(TOKEN) == 1
    assert TOKEN not in page.evaluate("() => JSON.stringify(localStorage)")
    assert TOKEN not in page.url and TOKEN not in page.evaluate("() => document.cookie")
    page.evaluate("() => { window.__same_page = true; }")
    page.click(f'#firing tr[data-alert="{KEY}"] button.ack')
    expect(page.locator("#write-message")).to_have_text(f"Acknowledged {KEY}: no reminders until it resolves.")
    row = page.locator(f'#firing tr[data-alert="{KEY}"]')
    expect(row.locator("td.acked")).to_have_text("ann", timeout=TIMEOUT_MS)
    expect(row.locator("button.ack")).to_have_count(0)
    [alert] = [a for a in alerts_service.alerts()["firing"] if a["key"] == KEY]
    assert alert["acknowledged_by"] == "ann"
    assert page.evaluate("() => window.__same_page") is True  # no page load: the form wrote in place
    op.screenshot()
    op.assert_clean()


def test_a_silence_made_and_ended_through_the_forms(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts").page
    set_token(page, TOKEN, "bob")
    page.fill("#silence-matchers", "component=registry\nteam=storage\nteam=db")
    page.fill("#silence-duration", "2h")
    page.fill("#silence-comment", "disk swap <b>tonight</b>")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("#write-message")).to_have_text("Silence added.")
    [silence] = [s for s in alerts_service.svc.json("/api/v1/silences") if s["created_by"] == "bob"]
    assert silence["matchers"] == {"component": "registry", "team": ["storage", "db"]}
    assert silence["comment"] == "disk swap <b>tonight</b>" and silence["active"] and silence["source"] == "api"
    length = parse_time(silence["ends_at"]) - parse_time(silence["starts_at"])
    assert 2 * 3600 - 5 <= length <= 2 * 3600 + 5, length  # "2h" from now
    row = page.locator(f'#silences tr[data-silence="{silence["id"]}"]')
    expect(row).to_contain_text("component=registry team=storage|db")
    expect(row).to_contain_text("disk swap <b>tonight</b>")  # as text
    assert row.locator("b").count() == 0
    expect(page.locator("#silence-matchers")).to_have_value("")  # the form is ready for the next one
    op.screenshot()

    row.locator("button.end-silence").click()
    expect(page.locator("#write-message")).to_have_text(f"Silence {silence['id']} ended.")
    expect(row).to_have_count(0, timeout=TIMEOUT_MS)
    assert silence["id"] not in {s["id"] for s in alerts_service.svc.json("/api/v1/silences")}
    op.assert_clean()


def test_a_bad_matcher_line_is_named_and_nothing_is_sent(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts").page
    set_token(page, TOKEN)
    before = len(alerts_service.svc.json("/api/v1/silences"))
    page.fill("#silence-matchers", "component=paas\njust-a-word")
    page.fill("#silence-duration", "1h")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("#write-message")).to_have_text('Matchers, line 2: write label=value (got "just-a-word").')
    page.fill("#silence-matchers", "component=paas")
    page.fill("#silence-duration", "")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("#write-message")).to_have_text("Give either a duration (like 2h) or an end time.")
    assert len(alerts_service.svc.json("/api/v1/silences")) == before
    op.assert_clean()


def test_a_maintenance_window_through_the_form(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/alerts").page
    set_token(page, TOKEN)
    page.fill("#maintenance-name", "registry disk swap")
    page.fill("#maintenance-components", "registry, storage/*")
    page.fill("#maintenance-duration", "90m")
    page.fill("#maintenance-reason", "CHG-42")
    page.click("#maintenance-form button[type=submit]")
    expect(page.locator("#write-message")).to_have_text("Maintenance window added.")
    [window] = [w for w in alerts_service.svc.json("/api/v1/maintenance") if w["name"] == "registry disk swap"]
    assert window["components"] == ["registry", "storage/*"] and window["checks"] == []
    assert window["reason"] == "CHG-42" and window["source"] == "api"
    [occurrence] = window["occurrences"]
    assert abs(time.time() - parse_time(occurrence["start"])) < 120  # the form's start: now, to the minute
    assert parse_time(occurrence["end"]) - parse_time(occurrence["start"]) == 90 * 60
    item = page.locator('#maintenance li[data-window="registry disk swap"]')
    expect(item).to_contain_text("In maintenance: registry disk swap", timeout=TIMEOUT_MS)
    expect(item).to_contain_text("CHG-42")

    page.fill("#maintenance-name", "registry disk swap")  # the same name again: the API's 409, in words
    page.fill("#maintenance-components", "registry")
    page.fill("#maintenance-duration", "1h")
    page.click("#maintenance-form button[type=submit]")
    expect(page.locator("#write-message")).to_contain_text("The service answered 409: a maintenance window named "
                                                           "'registry disk swap' exists already")
    op.screenshot()
    op.errors = [e for e in op.errors if "status of 409" not in e]
    op.assert_clean()


def test_a_refused_reload_raises_the_config_banner(alerts_service, open_page):
    op = open_page()
    page = op.goto(alerts_service.url + "/?refresh=1").page
    config = page.locator('#ops-banners [data-banner="config"]')
    try:
        alerts_service.path.write_text(alerts_service.text + "    - {name: pager, kind: nope}\n")
        expect(config).to_contain_text("Config reload refused at ", timeout=TIMEOUT_MS)  # polled every 2 s
        expect(config).to_contain_text(f"the service runs its previous config, not {alerts_service.path} as it "
                                       "is on disk.")
        expect(config.locator("pre")).to_contain_text("alerts.receivers[1]")
        status = alerts_service.svc.json("/api/v1/config/status")
        assert status["file"] == "changed" and status["last_reload"]["outcome"] == "failure"
        assert status["reloads"] == {"success": 0, "failure": 1}
        assert status["last_reload"]["reason"] in config.locator("pre").inner_text()
        op.screenshot()
    finally:
        alerts_service.path.write_text(alerts_service.text)
    expect(config).to_have_count(0, timeout=TIMEOUT_MS)  # the file is what runs again
    status = alerts_service.svc.json("/api/v1/config/status")
    assert status["file"] == "applied" and status["last_reload"]["outcome"] == "success"
    assert status["last_reload"]["reason"] is None
    op.assert_clean()


def route_config_status(page, answer: dict) -> None:
    body = json.dumps(answer)
    page.route("**/api/v1/config/status", lambda route: route.fulfill(
        status=200, content_type="application/json", body=body))


def test_a_file_not_reloaded_yet_or_unreadable_is_warned_about(alerts_service, open_page):
    """Crafted answers: a changed file is warned about once a second refresh still sees it (a
    good edit is applied within 2 s and never flashes a warning); an unreadable one at once."""
    path = "/etc/pm/config.yaml"
    answer = {"path": path, "file": "changed", "last_reload": None, "reloads": {"success": 0, "failure": 0}}
    op = open_page()
    route_config_status(op.page, answer)
    page = op.goto(alerts_service.url + "/incidents?refresh=1").page
    config = page.locator('#ops-banners [data-banner="config"]')
    expect(config).to_have_text(f"{path} on disk differs from the running config: not reloaded yet.",
                                timeout=TIMEOUT_MS)
    op.page.unroute("**/api/v1/config/status")
    route_config_status(op.page, answer | {"file": "unreadable"})
    expect(config).to_have_text(f"{path} cannot be read: the service runs the config it last loaded.",
                                timeout=TIMEOUT_MS)
    op.assert_clean()


def test_config_status_without_a_file(tmp_path):
    port = free_port()
    svc = ServiceThread(create_app(parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
""")), port).start()
    try:
        assert svc.json("/api/v1/config/status") == {
            "path": None, "file": None, "last_reload": None, "reloads": {"success": 0, "failure": 0}}
        assert httpx.get(svc.url + "/alerts", timeout=10).status_code == 200
    finally:
        svc.stop()


def test_public_only_turns_the_alerts_page_off(tmp_path):
    port = free_port()
    svc = ServiceThread(create_app(parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
ui: {{public_only: true}}
""")), port).start()
    try:
        get = lambda path: httpx.get(svc.url + path, timeout=10, follow_redirects=False)  # noqa: E731
        assert get("/alerts").status_code == 404
        assert get("/api/v1/config/status").status_code == 404
        assert get("/status").status_code == 200
        assert "banners.js" not in get("/status").text  # the public page carries no internal warning
    finally:
        svc.stop()
