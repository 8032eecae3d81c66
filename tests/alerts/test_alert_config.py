"""The `alerts:` config section: the issue's example loads, mistakes are refused with their place,
routes choose receivers, and receiver secrets are never shown back."""

from __future__ import annotations

import pytest

from monitor.alerts.receivers import RECEIVERS
from monitor.alerts.routing import route
from monitor.config import ConfigError, parse_config

ISSUE_EXAMPLE = """
server: {api_token: "${PM_API_TOKEN}"}
checks:
  - {name: pull, component: registries, kind: tcp, host: 127.0.0.1, port: 5000}
  - {name: web, component: paas, kind: tcp, host: 127.0.0.1, port: 443, depends_on: [registries/pull]}
alerts:
  repeat_interval: 4h
  receivers:
    - {name: ops-hook, kind: webhook, url: "https://hooks.example.com/platform", secret: "${HOOK_SECRET}"}
    - {name: am, kind: alertmanager, url: "http://alertmanager:9093"}
    - {name: ops-ding, kind: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=${DING_TOKEN}",
       secret: "${DING_SECRET}"}
  routes:
    - {match: {component: registries}, receivers: [ops-ding]}
    - {receivers: [ops-hook, am]}
"""
ENV = {"PM_API_TOKEN": "tok-0001", "HOOK_SECRET": "hook-0002", "DING_TOKEN": "ding-0003", "DING_SECRET": "SEC0004"}


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", ENV)
    return info.value.errors


def test_issue_example_loads_and_routes():
    config = parse_config(ISSUE_EXAMPLE, env=ENV)
    alerts = config.alerts
    assert alerts.repeat_interval == 4 * 3600 and [r.kind for r in alerts.receivers] == ["webhook", "alertmanager",
                                                                                        "dingtalk"]
    names = [r.name for r in alerts.receivers]
    assert route(alerts.routes, {"component": "registries"}, names) == ["ops-ding"]
    assert route(alerts.routes, {"component": "paas"}, names) == ["ops-hook", "am"]
    assert config.checks[1].depends_on == ["registries/pull"]


def test_continue_sends_to_every_matching_route_and_no_routes_means_everyone():
    config = parse_config("""
alerts:
  receivers: [{name: a, kind: slack, url: "https://hooks.slack.com/x"}, {name: b, kind: wecom, url: "https://w/x"}]
  routes:
    - {match: {severity: [critical, page]}, receivers: [a], continue: true}
    - {match: {team: db}, receivers: [b]}
""", env={})
    routes = config.alerts.routes
    assert route(routes, {"severity": "page", "team": "db"}, ["a", "b"]) == ["a", "b"]
    assert route(routes, {"severity": "warning", "team": "web"}, ["a", "b"]) == []
    assert route([], {"severity": "warning"}, ["a", "b"]) == ["a", "b"]


def test_mistakes_are_refused_with_their_place():
    base = "checks:\n  - {name: a, component: c, kind: tcp, host: h, port: 1, depends_on: [%s]}\n"
    assert errors_of(base % "c/nope") == ["(top level): checks[0] (c/a).depends_on[0]: no check with id 'c/nope'"]
    cycle = base % "c/b" + "  - {name: b, component: c, kind: tcp, host: h, port: 1, depends_on: [c/a]}\n"
    assert "dependency cycle" in errors_of(cycle)[0]
    assert errors_of("alerts: {receivers: [{name: x, kind: webhook, url: u}], routes: [{receivers: [y]}]}") == [
        "alerts: routes[0].receivers[0]: no receiver named 'y'"]
    assert errors_of("alerts: {receivers: [{name: x, kind: pager, url: u}]}")[0].startswith(
        "alerts.receivers[0].kind: 'pager' is not a kind of receiver: the kinds of receiver are alertmanager, ")
    [error] = errors_of("alerts: {receivers: [{name: x, kind: slack, url: u, template: {text: '{% if %}'}}]}")
    assert error.startswith("alerts.receivers[0].template.text: invalid template")
    [error] = errors_of("alerts: {receivers: [{name: x, kind: webhook, url: u, secert: s}]}")
    assert error == "alerts.receivers[0].secert: unknown key: did you mean `secret`?"


def test_receiver_secrets_are_redacted():
    config = parse_config(ISSUE_EXAMPLE, env=ENV)
    shown = {r.name: r.redacted(config.secret_values) for r in config.alerts.receivers}
    assert shown["ops-hook"]["secret"] == "<redacted>"
    assert "ding-0003" not in str(shown["ops-ding"]) and "SEC0004" not in str(shown["ops-ding"])
    slack = RECEIVERS["slack"].model(name="s", kind="slack", url="https://hooks.slack.com/services/T1/B2/XYZ")
    assert slack.redacted()["url"] == "https://hooks.slack.com/<redacted>"
    wecom = RECEIVERS["wecom"].model(name="w", kind="wecom", url="https://qyapi.weixin.qq.com/send?key=k123")
    assert "k123" not in wecom.redacted()["url"]


def test_docs_alerting_example_is_a_valid_config():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "docs" / "alerting.md").read_text()
    section = readme[readme.index("# Alerting"):]
    example = section[section.index("```yaml") + len("```yaml"):section.index("```", section.index("```yaml") + 7)]
    env = {name: f"value-of-{name.lower()}" for name in ("PM_API_TOKEN", "HOOK_SECRET", "DING_TOKEN", "DING_SECRET",
                                                         "WECOM_KEY", "LARK_HOOK", "LARK_SECRET", "TG_TOKEN",
                                                         "TG_CHAT")}
    env["SLACK_WEBHOOK_URL"] = "https://hooks.slack.com/services/T1/B2/abc"
    config = parse_config(example, "docs/alerting.md", env)
    assert len(config.alerts.receivers) == 7 and config.checks[1].depends_on == ["cluster-a/apiserver"]


def test_watchdog_names_a_configured_receiver_and_its_interval_is_bounded():
    hooks = "receivers: [{name: ops-hook, kind: webhook, url: u}, {name: am, kind: alertmanager, url: u}]"
    config = parse_config(f"alerts: {{{hooks}, watchdog: {{receiver: am}}}}", env={})
    assert (config.alerts.watchdog.receiver, config.alerts.watchdog.interval) == ("am", 60.0)
    assert parse_config("alerts: {watchdog: null}", env={}).alerts.watchdog is None
    assert parse_config(f"alerts: {{{hooks}, watchdog: {{receiver: am, interval: 10s}}}}",
                        env={}).alerts.watchdog.interval == 10.0

    assert errors_of(f"alerts: {{{hooks}, watchdog: {{receiver: pager}}}}") == [
        "alerts: watchdog.receiver: no receiver named 'pager' (receivers: 'ops-hook', 'am')"]
    assert errors_of("alerts: {watchdog: {receiver: pager}}") == [
        "alerts: watchdog.receiver: no receiver named 'pager' (no receivers are configured)"]
    assert errors_of(f"alerts: {{{hooks}, watchdog: {{receiver: am, interval: 5s}}}}") == [
        "alerts.watchdog.interval: must be from 10s to 1h (got 5s)"]
    assert errors_of(f"alerts: {{{hooks}, watchdog: {{receiver: am, interval: 2h}}}}") == [
        "alerts.watchdog.interval: must be from 10s to 1h (got 2h)"]
    assert errors_of(f"alerts: {{{hooks}, watchdog: {{interval: 1m}}}}") == [
        "alerts.watchdog.receiver: Field required"]
