"""The Grafana dashboard and the Prometheus alert rules under dashboards/: they parse, reference only
metrics a live service exports (names read from its /metrics, not from a list kept here), pass
promtool's checks and unit tests, and every dashboard query runs in a real Prometheus."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import httpx
import yaml

from tests.peers import require_peer
from tests.targets import wait_for

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
GRAFANA = DASHBOARDS / "grafana" / "platform-monitor.json"
RULES = DASHBOARDS / "prometheus" / "alerts.yml"
RULES_TEST = DASHBOARDS / "prometheus" / "alerts_test.yml"
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every scrape target (the monitor's own liveness)."""
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "inf", "nan", "atan2"}
GRAFANA_VARIABLES = {"$component": ".*", "$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
FILLED = ["Component up", "Checks down", "Runs by result", "Latency p95 by check", "Scheduler lag p99", "Storage",
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
