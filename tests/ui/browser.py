"""Debian's Chromium driven by Playwright (never `playwright install`): pages that record console
errors and uncaught exceptions, and screenshots kept under test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers import require_peer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEZONE = "America/New_York"
"""Not UTC on purpose: without `ui.timezone` the pages show and take times in the browser's zone,
and name it."""


class OpenPage:
    """A page with everything it logged as an error: console errors (a failed fetch included)
    and uncaught exceptions."""

    def __init__(self, page, test: str) -> None:
        self.page = page
        self.test = test
        self.errors: list[str] = []
        page.on("console", lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def goto(self, url: str) -> OpenPage:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        return self

    def assert_clean(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)
        assert self.page.evaluate("() => window.__pwned") is None, "text from a target ran as script"

    def screenshot(self, what: str = "", *, full_page: bool = True) -> Path:
        """test-artifacts/screenshots/<test>.png, or <test>-<what>.png for a test's further views."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test}{'-' + what if what else ''}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


class Browser:
    def __init__(self, browser) -> None:
        self.browser = browser

    @classmethod
    @contextmanager
    def launch(cls) -> Iterator[Browser]:
        executable = require_peer(CHROMIUM, "the UI tests drive a real headless Chromium")
        from playwright.sync_api import sync_playwright  # the test extra; imported only when needed

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield cls(browser)
            finally:
                browser.close()

    def open(self, test: str, *, width: int = 1400, height: int = 900, dark: bool = False, locale: str = "en-US",
             timezone: str = TIMEZONE) -> OpenPage:
        """A page in a browser set to `locale` (its Accept-Language) and `timezone`."""
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, timezone_id=timezone,
            color_scheme="dark" if dark else "light", locale=locale,
        )
        return OpenPage(context.new_page(), test)
