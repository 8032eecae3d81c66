"""What `/metrics` says per state: `*_up` is 1 for up and degraded (available, as the uptime figures
count it), 0 for down, absent while unknown; `*_status` is 1 on the one series of the state."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import EngineCollector, build_registry
from monitor.state import StateMachine
from probes.base import CheckBase, Result, Status


class FakeCheck(CheckBase):
    kind: str = "fake"


def scrape(sm: StateMachine) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The exposition as a scraper reads it: family name → label set → value."""
    text = generate_latest(build_registry(EngineCollector(sm))).decode()
    return {family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
            for family in text_string_to_metric_families(text)}


def test_up_metrics_per_state():
    sm = StateMachine()
    sm.set_checks([FakeCheck(name=s, component=s) for s in ("up", "degraded", "down", "unknown")])
    for s in ("up", "degraded", "down"):
        sm.apply(f"{s}/{s}", Result(Status(s), "r", time=1000.0))
    metrics = scrape(sm)

    check_up = {dict(labels)["check"]: value for labels, value in metrics["platform_monitor_check_up"].items()}
    assert check_up == {"up/up": 1.0, "degraded/degraded": 1.0, "down/down": 0.0}
    component_up = {dict(labels)["component"]: value
                    for labels, value in metrics["platform_monitor_component_up"].items()}
    assert component_up == {"up": 1.0, "degraded": 1.0, "down": 0.0}

    for family, key in (("platform_monitor_check_status", "check"), ("platform_monitor_component_status", "component")):
        ones = {(dict(labels)[key], dict(labels)["status"]) for labels, value in metrics[family].items() if value == 1}
        assert ones == {(f"{s}/{s}" if key == "check" else s, s) for s in ("up", "degraded", "down", "unknown")}
        assert len(metrics[family]) == 16  # four series per check or component, three of them 0


def test_component_with_a_degraded_check_is_available_and_degraded():
    sm = StateMachine()
    sm.set_checks([FakeCheck(name="cert", component="registries"),
                   FakeCheck(name="ping", component="registries", failure_threshold=1)])
    sm.apply("registries/cert", Result(Status.DEGRADED, "certificate expires in 15 days", time=1000.0))
    sm.apply("registries/ping", Result(Status.UP, "ok", time=1000.0))
    metrics = scrape(sm)
    assert metrics["platform_monitor_component_up"] == {(("component", "registries"),): 1.0}
    assert metrics["platform_monitor_component_status"][(("component", "registries"), ("status", "degraded"))] == 1.0

    sm.apply("registries/ping", Result(Status.DOWN, "refused", time=1001.0))
    assert scrape(sm)["platform_monitor_component_up"] == {(("component", "registries"),): 0.0}


def test_help_texts_state_the_values():
    text = generate_latest(build_registry(EngineCollector(StateMachine()))).decode()
    helps = dict(line.removeprefix("# HELP ").split(" ", 1) for line in text.splitlines() if line.startswith("# HELP "))
    for name in ("platform_monitor_check_up", "platform_monitor_component_up"):
        assert "up or degraded" in helps[name] and "0 if down" in helps[name] and "unknown" in helps[name], name
    for name in ("platform_monitor_check_status", "platform_monitor_component_status"):
        assert "up, degraded, down, unknown" in helps[name], name
