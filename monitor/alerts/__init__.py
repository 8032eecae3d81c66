"""Alerting: the pure alert machine, routing, silences, the durable outbox and its sender, and
one small module per receiver kind. Turns confirmed state changes into notifications. The package
imports nothing itself: `monitor.config` reads `monitor.alerts.config` without pulling in the
running parts (`monitor.alerts.alerting`), which depend on the config."""
