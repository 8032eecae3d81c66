"""/docs and /redoc in headless Chromium: rendered from the service alone (no request leaves
127.0.0.1), under the UI's Content-Security-Policy, with no console error."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from dashboards.pages import CSP

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""ReDoc's footer tries this image; the CSP (img-src 'self') stops it in the browser and the image
hides itself: the one request a docs page attempts beyond the service, and it never leaves."""


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")],
                         ids=["swagger-ui", "redoc"])
def test_docs_render_offline_under_the_csp(ui_service, open_page, path, ready):
    response = httpx.get(ui_service.url + path)
    policy = response.headers.get("content-security-policy", "")
    assert response.status_code == 200 and policy.startswith(CSP.split("script-src")[0]), policy
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'self'" in script_src and "unsafe" not in script_src and "http" not in script_src, policy

    page = open_page()
    answered: list[str] = []  # requests that got an answer: they left the browser
    attempted: list[str] = []
    page.page.on("request", lambda req: attempted.append(req.url))
    page.page.on("response", lambda resp: answered.append(resp.url))
    page.goto(ui_service.url + path)
    page.page.wait_for_selector(ready, timeout=15_000)
    if path == "/docs":
        operations = [op.replace("\u200b", "") for op in page.page.locator(".opblock-summary-path").all_inner_texts()]
        assert "/api/v1/silences" in operations and len(operations) >= 15, operations
    else:
        assert "/api/v1/silences" in page.page.content()
    page.page.wait_for_timeout(300)
    local = {urlsplit(url.removeprefix("blob:")).hostname for url in answered}  # blob: ReDoc's own worker
    assert local == {"127.0.0.1"}, sorted(set(answered))
    outside = {url for url in attempted if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("blob:")}
    assert outside <= {REDOC_LOGO}, outside
    page.errors = [e for e in page.errors if REDOC_LOGO not in e]  # the CSP refusing it is the point
    page.screenshot()
    page.assert_clean()
