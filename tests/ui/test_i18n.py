"""English and Simplified Chinese, and times in a named zone (issue 14, item 11): the catalog holds
every string of the templates, scripts and figures, translated; a request's language comes from
the page's switch (a cookie), `ui.language`, then Accept-Language; every page in Chromium in both
languages and a non-UTC zone, with nothing left in English, screenshots of each."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from dashboards.i18n import choose
from tests.ui.browser import TIMEZONE

TIMEOUT_MS = 15_000
DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
LOCALE = DASHBOARDS / "locale"
KEYWORDS = {"_": None, "n_": (1, 2), "t": None, "tn": (1, 2)}  # as dashboards/locale/README.md extracts
METHODS = [("**/templates/**.html", "jinja2"), ("**/static/js/**.js", "javascript"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)[sd]")
CALL = re.compile(r"""\bt(?:n)?\(\s*"((?:[^"\\]|\\.)*)\"""")
PAGES = {  # page → (path, what shows it loaded)
    "overview": ("/", "#groups .group"),
    "component": ("/components/paas", "#timeline .main-svg"),
    "check": ("/checks/paas/api", "#latency .main-svg"),
    "replay": ("/replay", "#timeline .main-svg"),
    "incidents": ("/incidents", "#incidents tbody tr"),
    "processes": ("/processes", "#processes tbody tr"),
    "alerts": ("/alerts", "#receivers table, #receivers p.empty"),
    "status": ("/status", "#components .component"),
}


def source_messages() -> set[str]:
    """Every msgid of the sources (a plural's by its singular), as `pybabel extract` finds them."""
    found = extract_from_dir(str(DASHBOARDS), METHODS, keywords=KEYWORDS, comment_tags=())
    return {m[2] if isinstance(m[2], str) else m[2][0] for m in found}


def catalog(lang: str = "zh_CN"):
    with open(LOCALE / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def test_the_catalog_translates_exactly_the_strings_of_the_templates_scripts_and_figures():
    wanted = source_messages()
    po = catalog()
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in po if m.id}
    assert not wanted - have.keys(), f"not in the catalog: {sorted(wanted - have.keys())}"
    assert not have.keys() - wanted, f"in the catalog, in no source: {sorted(have.keys() - wanted)}"
    for msgid, m in have.items():
        texts = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(texts) and "fuzzy" not in m.flags, f"untranslated: {msgid!r}"
        for text in texts:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(set(PLACEHOLDER.findall(msgid))) or (
                isinstance(m.id, tuple) and set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(m.id[1]))
            ), f"placeholders differ: {msgid!r} → {text!r}"
            assert text != msgid, f"left in English: {msgid!r}"
    with open(LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.mo", "rb") as f:  # compiled from this .po
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    assert compiled == {_key(m.id): _key(m.string) for m in po if m.id}, "messages.mo is stale: pybabel compile"


def _key(value: str | tuple | list) -> str | tuple:
    return value if isinstance(value, str) else tuple(value)


def test_every_translatable_call_in_the_scripts_is_found_by_the_extractor():
    """Babel's JavaScript lexer skips calls inside template literals: none may hide there."""
    wanted = source_messages()
    for script in (DASHBOARDS / "static" / "js").rglob("*.js"):
        for msgid in CALL.findall(script.read_text()):
            assert msgid.replace('\\"', '"') in wanted, f"{script.name}: t({msgid!r}) is not extracted"


def test_templates_have_no_text_outside_the_catalog():
    for template in (DASHBOARDS / "templates").glob("*.html"):
        text = template.read_text()
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
        text = re.sub(r"<!doctype[^>]*>|<[^>]+>|[\w-]+=\"[^\"]*\"", " ", text, flags=re.S | re.I)  # and attributes
        words = set(re.findall(r"[A-Za-z]{2,}", text)) - {"platform", "monitor", "public"}  # brand, a CSS class
        assert not words, f"{template.name}: {sorted(words)}"


@pytest.mark.parametrize(("cookie", "configured", "header", "chosen"), [
    (None, "auto", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    (None, "auto", "zh-TW", "zh-CN"),  # any Chinese reader: Simplified is what there is
    (None, "auto", "en-GB,zh;q=0.5", "en"),
    (None, "auto", "fr-FR, zh;q=0.3", "zh-CN"),
    (None, "auto", "de, *;q=0.1", "en"),
    (None, "auto", None, "en"),
    (None, "zh-CN", "en-US", "zh-CN"),  # the config's default over the browser's
    ("en", "zh-CN", "zh-CN", "en"),  # the reader's own choice over both
    ("xx", "auto", "zh", "zh-CN"),
])
def test_the_language_comes_from_the_switch_the_config_then_the_browser(cookie, configured, header, chosen):
    assert choose(cookie=cookie, configured=configured, accept_language=header) == chosen


def test_pages_switch_language_with_a_cookie_and_serve_the_catalog_as_json(ui_service):
    zh = httpx.get(ui_service.url + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=10)
    assert zh.headers["content-language"] == "zh-CN" and '<html lang="zh-CN"' in zh.text and "概览" in zh.text
    en = httpx.get(ui_service.url + "/", headers={"Accept-Language": "en-US"}, timeout=10)
    assert en.headers["content-language"] == "en" and ">Overview<" in en.text
    switch = httpx.get(ui_service.url + "/language/zh-CN?next=/incidents%3Frange%3D7d", timeout=10)
    assert switch.status_code == 303 and switch.headers["location"] == "/incidents?range=7d"
    assert switch.cookies["pm_lang"] == "zh-CN"
    chosen = httpx.get(ui_service.url + "/status", cookies={"pm_lang": "zh-CN"}, headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN"' in chosen.text and "最近 30 天的事件" in chosen.text
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        away = httpx.get(ui_service.url + "/language/en", params={"next": hostile}, timeout=10)
        assert away.headers["location"] == "/", hostile
    assert httpx.get(ui_service.url + "/language/fr", timeout=10).status_code == 404
    data = httpx.get(ui_service.url + "/i18n/zh-CN.json", timeout=10).json()
    assert data["lang"] == "zh-CN" and data["plurals"] == 1
    assert data["messages"]["Overview"] == "概览" and data["messages"]["{n} check"] == ["{n} 个检查"]
    api = httpx.get(ui_service.url + "/api/v1/components", headers={"Accept-Language": "zh-CN"}, timeout=10).json()
    assert all(c["since"] is None or c["since"].endswith(("Z", "+00:00")) for c in api)  # the API stays UTC


WORDS_SHOWN = """() => {
  const copy = document.body.cloneNode(true);
  for (const el of copy.querySelectorAll(`.reason, .banner-reason, pre, .mono, .name-hint, .comp-title, .group-name,
      .group-problems, .description, .name, .receiver, .labels, .tag.severity, tr[data-check] td:nth-child(2),
      tr[data-check] td:nth-child(3), .tooltip, .main-svg .ytick, .main-svg .legendtext`)) el.remove();
  document.body.append(copy);
  const text = copy.innerText;
  copy.remove();
  return text;
}"""
"""The page's text without what comes from the monitored things (names, kinds, reasons, labels):
the page's own words."""


def english_words() -> set[str]:
    """The words of the English msgids that should never show on a Chinese page."""
    words = set()
    for msgid in source_messages():
        words |= {w.lower() for w in re.findall(r"[A-Za-z]{4,}", PLACEHOLDER.sub(" ", msgid))}
    return words


def data_words(ui_service) -> set[str]:
    """Words that come from the monitored things and the engine (names, kinds, reasons such as "not
    monitored", receivers): data, shown as it is stored, in any language."""
    text = " ".join(httpx.get(ui_service.url + path, timeout=10).text for path in (
        "/api/v1/components", "/api/v1/checks", "/api/v1/alerts", "/api/v1/replicas",
        "/api/v1/maintenance", "/api/v1/incidents?from=2000-01-01T00:00:00Z", "/api/v1/checks/paas/api/results",
        "/api/v1/changes?from=2000-01-01T00:00:00Z"))
    return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)} | {"america", "york", "platform", "monitor"}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_in_each_language_with_times_in_the_browsers_zone(ui_service, open_page, lang):
    leftovers = english_words() - data_words(ui_service)
    for name, (path, loaded) in PAGES.items():
        op = open_page(locale=lang if lang != "en" else "en-US", height=1000)
        page = op.goto(ui_service.url + path).page
        expect(page.locator(loaded).first).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("#asof-time")).not_to_have_text("—", timeout=TIMEOUT_MS)
        assert page.evaluate("document.documentElement.lang") == lang
        expect(page.locator("#asof-zone")).to_contain_text(TIMEZONE)  # the zone named beside the clock
        page.wait_for_timeout(300)  # the slower widgets of the same load
        if lang == "zh-CN":
            text = page.evaluate(WORDS_SHOWN).replace("server.api_token", "")  # a config key, in any language
            shown = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)}
            assert not shown & leftovers, f"{name}: English left on the Chinese page: {sorted(shown & leftovers)}"
            expect(page.locator(".languages a[data-lang='en']")).to_have_text("English")
        op.screenshot(name)
        op.assert_clean()
    op = open_page(locale=lang if lang != "en" else "en-US")
    op.page.goto(ui_service.url + "/components/nowhere")
    expect(op.page.locator("h1")).to_have_text("未找到" if lang == "zh-CN" else "Not found")
    op.screenshot("not_found")


def test_the_switch_on_a_page_changes_its_language_and_keeps_it(ui_service, open_page):
    op = open_page()
    page = op.goto(ui_service.url + "/incidents?range=7d").page
    expect(page.locator("h1")).to_have_text("Incidents")
    page.click(".languages a[data-lang='zh-CN']")
    expect(page.locator("h1")).to_have_text("事件", timeout=TIMEOUT_MS)
    assert page.url.endswith("/incidents?range=7d")
    expect(page.locator("#incidents thead")).to_contain_text(f"开始时间（{TIMEZONE}）", timeout=TIMEOUT_MS)  # noqa: RUF001
    page.goto(ui_service.url + "/status")
    expect(page.locator(".public-head h1 + .languages")).to_contain_text("简体中文")
    expect(page.locator("#banner")).not_to_have_text("加载中…", timeout=TIMEOUT_MS)
    assert "事件" in page.locator("main").inner_text()
    op.assert_clean()
