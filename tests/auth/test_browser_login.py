"""Real sign-ins in headless Chromium (tests/ui/browser.py): the form (a page sends you to it and
back, the Alerts page then writes with the session and its CSRF token under your name, a viewer's
writes are refused plainly, sign-out), and single sign-on through the provider double (the Audit
page for an admin; a user in no mapped group sees why)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.auth.conftest import KEY, AuthService, auth_block, password
from tests.auth.oidc_provider import OidcProvider
from tests.ui.browser import Browser, OpenPage

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as b:
        yield b


@pytest.fixture
def open_page(browser, request) -> Iterator:
    opened: list[OpenPage] = []

    def make() -> OpenPage:
        opened.append(browser.open(request.node.name))
        return opened[-1]

    yield make
    for op in opened:
        op.page.context.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    p = OidcProvider().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def service(start_service, provider) -> AuthService:
    oidc = (f"  oidc: {{issuer: \"{provider.url}\", client_id: {provider.client_id}, "
            f"client_secret: \"{provider.client_secret}\", role_map: {{sre: admin, oncall: operator}}}}\n")
    svc = start_service(auth=auth_block(extra=oidc))
    provider.redirect_uris.add(svc.url + "/login/oidc/callback")
    with svc.token_client("viewer") as client:
        from tests.targets import wait_for

        wait_for(lambda: client.get("/api/v1/alerts").json()["firing"], what="the alert firing")
    return svc


def sign_in(page, name: str) -> None:
    page.fill("#login-name", name)
    page.fill("#login-password", password(name))
    page.click("#login-form button[type=submit]")


def refused_loads(op: OpenPage) -> None:
    """Chromium logs answers it was meant to get (403 for a viewer's write) as console errors."""
    op.errors = [e for e in op.errors if "status of 403" not in e]


def test_the_form_signs_in_and_writes_go_with_the_session(service, open_page):
    op = open_page()
    page = op.page
    page.goto(service.url + "/alerts")
    expect(page).to_have_url(re.compile(r"/login\?next=/alerts$"))
    sign_in(page, "olga")
    expect(page).to_have_url(service.url + "/alerts")
    expect(page.locator("#whoami")).to_contain_text("olga")
    expect(page.locator("#token-form")).to_be_hidden()
    expect(page.locator('nav a[href="/audit"]')).to_have_count(0)  # an operator: no audit log
    page.click(f'#firing tr[data-alert="{KEY}"] button.ack', timeout=TIMEOUT_MS)
    expect(page.locator("#write-message")).to_have_text(f"Acknowledged {KEY}: no reminders until it resolves.")
    expect(page.locator(f'#firing tr[data-alert="{KEY}"] td.acked')).to_have_text("olga", timeout=TIMEOUT_MS)
    page.fill("#silence-matchers", "component=nowhere")
    page.fill("#silence-duration", "1h")
    page.fill("#silence-comment", "from the browser")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("#write-message")).to_have_text("Silence added.")
    expect(page.locator("#silences")).to_contain_text("olga", timeout=TIMEOUT_MS)
    page.goto(service.url + "/incidents")  # the incident says who acknowledged its alert
    expect(page.locator('.alert-line[data-type="acknowledged"]').first).to_contain_text("by olga", timeout=TIMEOUT_MS)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["pm_session"]["httpOnly"] and cookies["pm_session"]["sameSite"] == "Lax"
    assert "pm_session" not in page.evaluate("() => document.cookie")  # HttpOnly: no script reads it
    op.screenshot()
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(service.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    op.assert_clean()


def test_a_viewer_is_refused_writes_plainly(service, open_page):
    op = open_page()
    page = op.page
    page.goto(service.url + "/login?next=/alerts")
    sign_in(page, "vic")
    expect(page).to_have_url(service.url + "/alerts")
    expect(page.locator("#actions-sub")).to_have_text("as vic: a viewer reads only; acting needs the operator role")
    page.fill("#silence-matchers", "component=nowhere")
    page.fill("#silence-duration", "1h")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("#write-message")).to_contain_text("Refused (403): vic (viewer) may not do this")
    refused_loads(op)
    op.assert_clean()


def test_a_wrong_password_says_so(service, open_page):
    op = open_page()
    page = op.page
    page.goto(service.url + "/login")
    page.fill("#login-name", "alice")
    page.fill("#login-password", "not her password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    expect(page.locator("#login-name")).to_have_value("alice")
    op.errors = [e for e in op.errors if "status of 401" not in e]
    op.assert_clean()


def test_single_sign_on_in_the_browser(service, provider, open_page):
    op = open_page()
    page = op.page
    page.goto(service.url + "/login?next=/audit")
    page.click("#login-oidc")
    expect(page).to_have_url(service.url + "/audit")
    expect(page.locator("#whoami")).to_contain_text("sara")
    expect(page.locator('nav a[href="/audit"]')).to_be_visible()
    row = page.locator('#audit tr[data-actor="sara"]').first
    expect(row).to_contain_text("session:oidc", timeout=TIMEOUT_MS)
    expect(row).to_contain_text("/login/oidc/callback")
    op.screenshot()
    op.assert_clean()


def test_single_sign_on_refuses_an_unmapped_user_with_a_page(service, provider, open_page):
    provider.user.groups = ["marketing"]
    op = open_page()
    page = op.page
    try:
        page.goto(service.url + "/login")
        page.click("#login-oidc")
        expect(page.locator("#refused-message")).to_contain_text("none of your groups is given a role")
    finally:
        provider.user.groups = ["sre", "staff"]
    op.screenshot()
    op.errors = [e for e in op.errors if "status of 403" not in e]
    op.assert_clean()


def test_a_page_whose_session_ends_goes_to_sign_in(service, open_page):
    op = open_page()
    page = op.page
    page.goto(service.url + "/login?next=/alerts%3Frefresh%3D1")
    sign_in(page, "vic")
    expect(page).to_have_url(service.url + "/alerts?refresh=1")
    page.context.clear_cookies()  # as if it had ended
    expect(page).to_have_url(re.compile(r"/login\?next=%2Falerts%3Frefresh%3D1$"), timeout=TIMEOUT_MS)
    op.errors = [e for e in op.errors if "status of 401" not in e]
    op.assert_clean()
