"""The Grafana dashboard and the Prometheus alert rules under dashboards/: they parse, reference only
metrics a live service exports (names read from its /metrics, not from a list kept here), pass
promtool's checks and unit tests, and every dashboard query runs in a real Prometheus. Degraded means
one thing in all of them: available, shown as DEGRADED, no down alert."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port, require_peer
from tests.pki import Pki
from tests.targets import HttpTarget, ServiceThread, wait_for

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
GRAFANA = DASHBOARDS / "grafana" / "platform-monitor.json"
RULES = DASHBOARDS / "prometheus" / "alerts.yml"
RULES_TEST = DASHBOARDS / "prometheus" / "alerts_test.yml"
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every scrape target (the monitor's own liveness)."""
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "inf", "nan", "atan2"}
GRAFANA_VARIABLES = {"$component": ".*", "$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
FILLED = ["Component status", "Checks down", "Runs by result", "Latency p95 by check", "Scheduler lag p99", "Storage",
          "Config reloads"]
"""Panels that must show data for the test's service (no TLS check there: that panel may be empty)."""


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label
    matchers, ranges, grouping labels and function names are taken out."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_metric_name_extraction():
    assert metric_names('histogram_quantile(0.95, sum by (check, le) (rate(a_bucket{x=~"$c"}[$__rate_interval])))') \
        == {"a_bucket"}
    assert metric_names('b * 1000 and on (check) (c{status="down"} == 1) offset 5m') == {"b", "c"}
    assert metric_names("(d - time()) / 86400 < 14 or absent(up{job='x'})") == {"d", "up"}


def exported_names(metrics_text: str) -> set[str]:
    """Every series name the exposition can carry: from its TYPE lines (families are listed even
    with no sample yet), with the _bucket/_sum/_count series of histograms and summaries."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind == "summary":
            names |= {f"{name}_sum", f"{name}_count"}
    return names


def dashboard_queries(dashboard: dict) -> dict[str, list[str]]:
    """Panel title → its target expressions (rows' nested panels included)."""
    out: dict[str, list[str]] = {}
    for panel in dashboard["panels"] + [p for row in dashboard["panels"] for p in row.get("panels", [])]:
        exprs = [t["expr"] for t in panel.get("targets", [])]
        if exprs:
            out[panel["title"]] = exprs
    return out


def template_metrics(dashboard: dict) -> set[str]:
    names = set()
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        if var["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert match, f"variable {var['name']}: unexpected query {query!r}"
            names.add(match.group(1))
    return names


def substitute(expr: str) -> str:
    for var in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(var, GRAFANA_VARIABLES[var])
    return expr


def test_alert_rules_reference_exported_metrics_and_pass_promtool(ui_service):
    exported = exported_names(httpx.get(ui_service.url + "/metrics", timeout=10).text) | PROMETHEUS_OWN
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) >= {"CheckDown", "ComponentDown", "TLSCertExpiringSoon", "SchedulerLagging",
                           "StorageWritesDropped", "MonitorConfigReloadFailed", "MonitorDown"}
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], name
        unknown = metric_names(rule["expr"]) - exported
        assert not unknown, f"{name} uses metrics we do not export: {unknown}"
        assert metric_names(rule["expr"]), name
    promtool = require_peer("promtool", "checks the alert rules (Debian package prometheus)")
    for args in (["check", "rules", RULES.name], ["test", "rules", RULES_TEST.name]):
        done = subprocess.run([promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_dashboard_queries_run_on_a_real_prometheus(ui_service, prometheus_factory):
    dashboard = json.loads(GRAFANA.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "component"}
    queries = dashboard_queries(dashboard)
    assert set(queries) >= {*FILLED, "TLS certificate expiry"}
    exported = exported_names(httpx.get(ui_service.url + "/metrics", timeout=10).text)
    used = template_metrics(dashboard) | {n for exprs in queries.values() for e in exprs for n in metric_names(e)}
    assert used and not used - exported, f"metrics we do not export: {used - exported}"

    prom = prometheus_factory(ui_service.url.removeprefix("http://"), job="platform-monitor")

    def run(expr: str) -> list:
        body = httpx.get(f"{prom.url}/api/v1/query", params={"query": substitute(expr)}, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    for title in FILLED:  # rates need two scrapes: wait until every filled panel has data
        wait_for(lambda title=title: all(run(e) for e in queries[title]), timeout=30, what=f"data in {title!r}")
    for exprs in queries.values():
        for expr in exprs:
            run(expr)
    down = {r["metric"]["check"] for r in run(queries["Checks down"][0])}
    assert down == {c for c, s in ui_service.states().items() if s == "down"}
    assert run('up{job="platform-monitor"} == 1')  # the MonitorDown rule's job name matches this scrape


def test_every_ui_file_ships_with_the_package():
    patterns = tomllib.loads((DASHBOARDS.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["dashboards"]
    shipped = {p for pattern in patterns for p in DASHBOARDS.glob(pattern) if p.is_file()}
    wanted = {p for p in DASHBOARDS.rglob("*") if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert {GRAFANA, RULES, RULES_TEST, DASHBOARDS / "templates" / "base.html"} <= wanted
    assert not wanted - shipped, sorted(str(p.relative_to(DASHBOARDS)) for p in wanted - shipped)


def panel(dashboard: dict, title: str) -> dict:
    [found] = [p for p in dashboard["panels"] + [p for row in dashboard["panels"] for p in row.get("panels", [])]
               if p["title"] == title]
    return found


def shown(panel: dict, value: str) -> tuple[str, str]:
    """(text, colour) a stat panel's value mappings turn a query's value into."""
    for mapping in panel["fieldConfig"]["defaults"]["mappings"]:
        if mapping["type"] == "value" and str(int(float(value))) in mapping["options"]:
            option = mapping["options"][str(int(float(value)))]
            return option["text"], option["color"]
    raise AssertionError(f"{panel['title']}: no mapping for {value}")


def test_component_status_panel_shows_each_state_in_its_colour():
    status = panel(json.loads(GRAFANA.read_text()), "Component status")
    [expr] = dashboard_queries({"panels": [status]})["Component status"]
    assert metric_names(expr) == {"platform_monitor_component_status"}  # the state, not the 0/1 of _up
    # the UI's colours (dashboards/figures.py STATE_COLOURS): amber for degraded, never DOWN's vermilion
    assert {v: shown(status, v) for v in ("0", "1", "2", "3")} == {
        "0": ("UNKNOWN", "#8C8C8C"), "1": ("UP", "#009E73"), "2": ("DEGRADED", "#E69F00"), "3": ("DOWN", "#D55E00")}


@pytest.fixture
def expiring_tls(tmp_path) -> Iterator[tuple[str, int]]:
    """(CA file, port) of a TLS listener on 127.0.0.1 whose certificate expires in 15 days."""
    pki = Pki.create(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = pki.server_context(days=15).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield pki.ca_file, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_degraded_is_available_shows_degraded_and_fires_no_down_alert(prometheus_factory, expiring_tls, tmp_path):
    """A registry whose certificate has 15 days left (warning below 21) is degraded: up (available) in
    `_up`, DEGRADED on the Grafana panel, and neither CheckDown nor ComponentDown fires for it, while
    they fire for a down check beside it. The rules are alerts.yml's with `for:` left out, so that
    the test sees at once what they fire after their minutes."""
    ca_file, tls_port = expiring_tls
    web = HttpTarget()
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}"}}
defaults: {{interval: 500ms, timeout: 500ms, failure_threshold: 1}}
checks:
  - {{name: prod-cert, component: registries, kind: tls, host: 127.0.0.1, port: {tls_port}, ca_file: "{ca_file}",
     warn_days: 21, critical_days: 7}}
  - {{name: prod, component: registries, kind: http, url: "{web.url}/"}}
  - {{name: api, component: web, kind: http, url: "{web.url}/"}}
  - {{name: closed, component: paas, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
""")
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    svc = ServiceThread(create_app(config), port).start()
    try:
        prom = prometheus_factory(f"127.0.0.1:{port}", job="platform-monitor", rule_files=[tmp_path / "alerts.yml"])
        prom.wait_for('platform_monitor_check_status{check="registries/prod-cert", status="degraded"} == 1')
        prom.wait_for('platform_monitor_check_status{check="paas/closed", status="down"} == 1')
        prom.wait_for('platform_monitor_component_status{component="web", status="up"} == 1')
        seen = dt.datetime.now(dt.UTC)

        def alerting() -> dict[str, dict[str, str]] | None:
            """Alert name → alerting label (check or component) → state, once every rule of the
            check group has been evaluated on what Prometheus has just shown."""
            groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
            [checks] = [g for g in groups if g["name"] == "platform-monitor-checks"]
            if dt.datetime.fromisoformat(checks["lastEvaluation"]) <= seen:
                return None
            return {r["name"]: {a["labels"].get("check", a["labels"].get("component")): a["state"]
                                for a in r["alerts"]} for r in checks["rules"]}

        fired = wait_for(alerting, what="an evaluation of the check rules")
        assert fired["CheckDown"] == {"paas/closed": "firing"}
        assert fired["ComponentDown"] == {"paas": "firing"}

        def value(expr: str) -> dict[str, float]:
            return {r["metric"].get("check", r["metric"].get("component")): float(r["value"][1])
                    for r in prom.query(expr)}

        assert value('platform_monitor_check_up{check="registries/prod-cert"}') == {"registries/prod-cert": 1.0}
        assert value("platform_monitor_component_up") == {"registries": 1.0, "web": 1.0, "paas": 0.0}

        status = panel(json.loads(GRAFANA.read_text()), "Component status")
        [expr] = dashboard_queries({"panels": [status]})["Component status"]
        assert {c: shown(status, str(v))[0] for c, v in value(substitute(expr)).items()} == {
            "registries": "DEGRADED", "web": "UP", "paas": "DOWN"}
    finally:
        svc.stop()
        web.close()
