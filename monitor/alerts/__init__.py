"""Alerting: the pure alert machine, routing, silences, the durable outbox and its sender, and
one small module per receiver kind. Turns confirmed state changes into notifications."""

from monitor.alerts.alerting import Alerting
from monitor.alerts.metrics import AlertsCollector

__all__ = ["Alerting", "AlertsCollector"]
