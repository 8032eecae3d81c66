"""Alerting's Prometheus metrics (and the watchdog's), from in-memory counters and records:
`collect()` never touches the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.alerts.machine import COVERED, FIRING, SILENCED

if TYPE_CHECKING:
    from monitor.alerts.alerting import Alerting
    from monitor.alerts.watchdog import Watchdog

PREFIX = "platform_monitor_"


class AlertsCollector:
    """Yields alerting's counters, outbox depth and the alerts firing and held back."""

    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting

    def collect(self) -> Iterator[Metric]:
        alerting = self.alerting
        sender = alerting.sender
        sent = CounterMetricFamily(PREFIX + "alert_notifications",
                                   "Notification attempts by receiver and outcome (delivered, error = will retry, "
                                   "rejected, expired, dropped).", labels=["receiver", "outcome"])
        for (receiver, outcome), count in sorted(sender.counts.items()):
            sent.add_metric([receiver, outcome], count)
        yield sent
        depth = GaugeMetricFamily(PREFIX + "alert_outbox_depth", "Notifications waiting to be delivered.",
                                  labels=["receiver"])
        for receiver, n in sorted(sender.depth.items()):
            depth.add_metric([receiver], n)
        yield depth
        records = list(alerting.records.values())
        firing = GaugeMetricFamily(PREFIX + "alerts_firing", "Alerts firing (notified) now, by severity.",
                                   labels=["severity"])
        by_severity: dict[str, int] = {}
        for r in records:
            if r.status == FIRING:
                severity = r.payload.get("alert", {}).get("severity") or ""
                by_severity[severity] = by_severity.get(severity, 0) + 1
        for severity, n in sorted(by_severity.items()):
            firing.add_metric([severity], n)
        yield firing
        suppressed = GaugeMetricFamily(PREFIX + "alerts_suppressed",
                                       "Alerts active but not notified, by why (silenced, covered by a parent).",
                                       labels=["reason"])
        for status in (SILENCED, COVERED):
            suppressed.add_metric([status], sum(1 for r in records if r.status == status))
        yield suppressed


class WatchdogCollector:
    """Yields the dead man's switch's heartbeats by receiver and outcome and its last success."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog

    def collect(self) -> Iterator[Metric]:
        watchdog = self.watchdog
        sent = CounterMetricFamily(PREFIX + "watchdog_sent", "Watchdog heartbeats sent by receiver and outcome "
                                   "(delivered, error: not retried, the next heartbeat follows).",
                                   labels=["receiver", "outcome"])
        for (receiver, outcome), count in sorted(watchdog.counts.items()):
            sent.add_metric([receiver, outcome], count)
        yield sent
        if watchdog.last_success is not None:
            yield GaugeMetricFamily(PREFIX + "watchdog_last_success_timestamp_seconds",
                                    "When a watchdog heartbeat was last delivered (unix seconds).",
                                    value=watchdog.last_success)
