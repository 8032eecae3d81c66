"""The UI over HTTP: every page and asset is served by the service itself (no CDN), with a strict
content security policy; the public page and its data carry nothing internal; `ui.public_only`
turns every internal page and API off, at once on reload."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from dashboards.web import STATIC
from tests.ui.conftest import MAINTENANCE_REASON, XSS

PAGES = ["/", "/replay", "/incidents", "/processes", "/status", "/components/paas", "/checks/paas/api",
         "/checks/registry/old-mirror"]
ATTR_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""")
IMPORT = re.compile(r"""^\s*import\b[^"']*["']([^"']+)["']""", re.M)


def test_pages_are_served_with_local_assets_only(ui_service):
    assets: set[str] = set()
    for path in PAGES:
        response = httpx.get(ui_service.url + path, timeout=10)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-eval" not in csp
        urls = ATTR_URL.findall(response.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), (path, urls)
        assets |= set(urls)
    assert "/vendor/plotly.min.js" in assets
    for url in sorted(assets):  # the language switch's links redirect back to the page
        assert httpx.get(ui_service.url + url, timeout=10, follow_redirects=True).status_code == 200, url


def test_every_module_import_resolves_and_plotly_is_served_compressed(ui_service):
    for module in sorted((STATIC / "js").rglob("*.js")):
        for target in IMPORT.findall(module.read_text()):
            assert target.startswith("."), f"{module.name} imports {target}: only our own modules"
            assert (module.parent / target).resolve().is_file(), f"{module.name}: {target}"
        rel = module.relative_to(STATIC).as_posix()
        served = httpx.get(f"{ui_service.url}/static/{rel}", timeout=10)
        assert served.status_code == 200 and served.headers["cache-control"] == "no-cache"
        again = httpx.get(f"{ui_service.url}/static/{rel}", headers={"If-None-Match": served.headers["etag"]})
        assert again.status_code == 304
    js = httpx.get(ui_service.url + "/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip"
    assert js.text.lstrip().startswith("/**") and "plotly.js v" in js.text[:200]
    assert "max-age" in js.headers["cache-control"]


def test_unknown_pages_answer_404(ui_service):
    for path in ("/checks/paas/nope", "/components/nowhere"):
        response = httpx.get(ui_service.url + path, timeout=10)
        assert response.status_code == 404 and "Not found" in response.text


def test_server_rendered_names_are_escaped(ui_service):
    text = httpx.get(ui_service.url + "/components/%3Cb%3Eevil%3C%2Fb%3E", timeout=10).text
    assert "<b>evil" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text


def test_the_pages_read_the_json_api_users_call(ui_service):
    fetched = {url for js in (STATIC / "js").rglob("*.js")
               for url in re.findall(r"get(?:JSON|Dated)\(\s*[`\"]([^`\"$?]+)", js.read_text())}
    assert "/api/v1/components" in fetched and "/api/v1/snapshot" in fetched, fetched
    assert all(url.startswith(("/api/v1/", "/ui/figure/", "/status/data")) for url in fetched), fetched
    assert not [js for js in (STATIC / "js").rglob("*.js") if "/ui/data" in js.read_text()]
    states = ui_service.states()
    counts: dict[str, dict[str, int]] = {}
    for c in httpx.get(ui_service.url + "/api/v1/checks", timeout=10).json():
        per = counts.setdefault(c["component"], {})
        per[states[c["id"]]] = per.get(states[c["id"]], 0) + 1
    assert {c["name"]: c["checks"] for c in httpx.get(ui_service.url + "/api/v1/components", timeout=10).json()
            } == counts
    assert httpx.get(ui_service.url + "/ui/data/overview", timeout=10).status_code == 404
    bad = httpx.get(ui_service.url + "/ui/figure/timeline?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
    assert bad.status_code == 422


def test_public_page_and_its_data_carry_nothing_internal(ui_service):
    html = httpx.get(ui_service.url + "/status", timeout=10).text
    data = httpx.get(ui_service.url + "/status/data", timeout=10)
    body = data.text
    assert {c["name"] for c in data.json()["components"]} == {"paas", "registry", "web"}
    assert data.json()["incidents"] and data.json()["title"] == "Example Platform status"
    assert [(m["title"], m["components"], m["active"]) for m in data.json()["maintenance"]] == [
        ("registry disk swap", ["registry"], False)]
    internal = [t.url for t in ui_service.targets.values()] + [
        "127.0.0.1", "http://", "https://",  # target URLs
        "HTTP 503", "expected", "connection refused", "JSONPath", "pwned", "<script>", XSS,  # reasons
        "paas/health", "paas/api", "web/xss", "registry/port",  # checks
        "internal-header-value", "X-Internal", "settings", "headers", "interval", "reason",  # settings
        MAINTENANCE_REASON, "CHG-",  # a maintenance window's reason
    ]
    for text in (html, body):
        leaked = [word for word in internal if word.lower() in text.lower()]
        assert not leaked, leaked
    links = ATTR_URL.findall(html)
    assert not [u for u in links if u.startswith(("/checks", "/components", "/replay", "/incidents", "/api"))], links
    status_js = (STATIC / "js" / "pages" / "status.js").read_text()
    assert set(re.findall(r"getJSON\(\"([^\"]+)\"", status_js)) == {"/status/data"}


def test_public_only_turns_every_internal_surface_off(ui_service):
    service = ui_service.svc.service
    original = service.config
    public = original.model_copy(update={"ui": original.ui.model_copy(update={"public_only": True})})
    assert public.ui.public_only and not original.ui.public_only
    service.engine.apply_config(public)  # what a reload of the config file does
    try:
        get = lambda path: httpx.get(ui_service.url + path, timeout=10, follow_redirects=False)  # noqa: E731
        root = get("/")
        assert root.status_code == 307 and root.headers["location"] == "/status"
        for path in ("/api/v1/checks", "/api/v1/checks/paas/api/results", "/api/v1/components", "/metrics", "/docs",
                     "/openapi.json", "/replay", "/incidents", "/components/paas", "/checks/paas/api",
                     "/api/v1/changes", "/ui/figure/timeline", "/ui/figure/incidents", "/statusx",
                     "/processes", "/api/v1/replicas"):
            assert get(path).status_code == 404, path
        for path in ("/status", "/status/data", "/static/css/monitor.css", "/vendor/plotly.min.js", "/healthz"):
            assert get(path).status_code == 200, path
    finally:
        service.engine.apply_config(original)
    assert httpx.get(ui_service.url + "/api/v1/checks", timeout=10).status_code == 200


def test_static_dir_has_no_foreign_urls():
    for path in STATIC.rglob("*"):
        if path.suffix in (".js", ".css", ".svg"):
            text = path.read_text()
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path
    assert Path(STATIC / "favicon.svg").is_file()
