"""The history's config sections: retention, components, maintenance; their errors name the place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import ConfigError, parse_config
from monitor.record_config import ComponentConfig, component_entry, component_settings
from storage.retention import Retention


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.errors


def test_defaults_and_overrides():
    config = parse_config("checks: []")
    assert config.retention.to_retention() == Retention()
    assert Retention().raw == timedelta(days=7) and Retention().rollup_1d is None
    config = parse_config("retention: {raw: 2d, rollup_1d: 3000d}")
    assert config.retention.to_retention().raw == timedelta(days=2)
    assert config.retention.to_retention().rollup_1d == timedelta(days=3000)
    assert parse_config("retention: {state_changes: forever}").retention.state_changes is None


def test_alerting_retention_keys():
    defaults = parse_config("checks: []").retention.to_retention()
    assert (defaults.alert_events, defaults.alert_outbox) == (timedelta(days=400), timedelta(days=30))
    retention = parse_config("retention: {alert_events: 90d, alert_outbox: 12h}").retention.to_retention()
    assert (retention.alert_events, retention.alert_outbox) == (timedelta(days=90), timedelta(hours=12))
    kept = parse_config("retention: {alert_events: forever, alert_outbox: null}").retention.to_retention()
    assert (kept.alert_events, kept.alert_outbox) == (None, None)
    # not bound to the history's windows: a short alert history is no error
    assert parse_config("retention: {alert_events: 1d, raw: 30d}").retention.to_retention().alert_events == \
        timedelta(days=1)


def test_component_settings_by_name_then_pattern():
    config = parse_config("""
components:
  registry-prod: {slo: 99.95, title: Production registry, group: registries}
  "cluster-*": {slo: 99.5}
  "*": {slo: 99.0}
""")
    assert component_settings(config.components, "registry-prod").title == "Production registry"
    assert component_settings(config.components, "cluster-a/control-plane").slo == 99.5
    assert component_settings(config.components, "paas").slo == 99.0
    assert component_settings({}, "paas") == ComponentConfig()
    # the position of the entry that applies: the order the status page lists components in
    assert component_entry(config.components, "registry-prod")[0] == 0
    assert component_entry(config.components, "cluster-a/control-plane")[0] == 1
    assert component_entry(config.components, "paas")[0] == 2
    assert component_entry({}, "paas") == (0, ComponentConfig())


def test_maintenance_windows():
    config = parse_config("""
maintenance:
  - name: patching
    components: ["cluster-*"]
    every: week
    days: [sat, Sunday]
    at: "02:00"
    duration: 2h
    timezone: Europe/Paris
  - {name: upgrade, checks: [paas/api], start: 2026-12-01T02:00:00+01:00, end: 2026-12-01 04:00:00}
""")
    weekly, once = (w.to_fields() for w in config.maintenance)
    assert weekly["recurrence"] == {"every": "week", "days": ["saturday", "sunday"], "at": "02:00",
                                    "duration": 7200.0, "timezone": "Europe/Paris"}
    assert once["starts_at"] == datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert once["ends_at"] == datetime(2026, 12, 1, 4, tzinfo=UTC)  # no offset: UTC
    assert once["recurrence"] is None


@pytest.mark.parametrize(("text", "message"), [
    ("retention: {raw: 40d}", "retention: rollup_5m must be kept at least as long as raw"),
    ("retention: {rollup_1h: soon}",
     "retention.rollup_1h: 'soon' is not a retention: a duration like 7d or 400d, or forever"),
    ("retention: {alert_outbox: soon}",
     "retention.alert_outbox: 'soon' is not a retention: a duration like 7d or 400d, or forever"),
    ("retention: {alert_events: -30d}",
     "retention.alert_events: '-30d' is not a retention: a duration like 7d or 400d, or forever"),
    ("retention: {alert_outbx: 30d}", "retention.alert_outbx: unknown key: did you mean `alert_outbox`?"),
    ("components: {x: {slo: 100}}", "components.x.slo: Input should be less than 100"),
    ("maintenance: [{name: a, components: [x], every: week, days: [sunday], at: 2:00, duration: 1h}]",
     'maintenance[0].at: write the time of day in quotes, e.g. at: "02:00"'),
    ("maintenance: [{name: a, components: [x], start: 2026-12-01T02:00:00Z}]",
     "maintenance[0]: a one-off window needs `start` and `end` (or `duration`)"),
    ("maintenance: [{name: a, start: 2026-12-01, duration: 1h}]",
     "maintenance[0]: name at least one component or check (patterns such as 'cluster-a/*' work)"),
    ("maintenance: [{name: a, components: [x], every: month, at: '01:00', duration: 1h}]",
     "maintenance[0]: every: month needs `days` (days of the month)"),
    ("maintenance: [{name: a, components: [x], every: month, days: [32], at: '01:00', duration: 1h}]",
     "maintenance[0]: `days`: days of the month (1-31) are expected, got 32"),
    ("maintenance: [{name: a, components: [x], every: day, at: '01:00', duration: 1h, timezone: Mars/Base}]",
     "maintenance[0]: unknown time zone 'Mars/Base' (use an IANA name like Europe/Paris)"),
    ("maintenance: [{name: a, components: [x], start: 2026-12-02, end: 2026-12-01}]",
     "maintenance[0]: `end` must be after `start`"),
    ("maintenance: [{name: a, components: [x], start: 2026-12-01, duration: 1h, at: '01:00'}]",
     "maintenance[0]: `days` and `at` belong to recurring windows: add `every` (day, week or month)"),
    ("maintenance: [{components: [x], start: 2026-12-01, duration: 1h}]", "maintenance[0].name: Field required"),
    ("maintenance: [{name: a, components: [x], start: 2026-12-01, duration: 1h},"
     " {name: a, components: [y], start: 2026-12-01, duration: 1h}]",
     "maintenance: [0] and [1] have the same name 'a' (names are keys)"),
])
def test_errors_name_their_place(text, message):
    assert errors(text) == [message]
