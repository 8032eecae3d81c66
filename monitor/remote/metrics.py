"""Metrics of remote agents and locations, a custom collector over memory (it never reads the
database): what this process last read of each agent's contact, what it received and refused, and
each location's latest result of the multi-location checks it holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.remote.gateway import Gateway
from monitor.remote.intake import Intake
from probes.base import Status

PREFIX = "platform_monitor_"
_UP_VALUE = {Status.UP: 1.0, Status.DEGRADED: 1.0, Status.DOWN: 0.0}  # as monitor.metrics: unknown has no sample


class RemoteCollector:
    """`agents()`: the configured agents' names; `owns(check_id)`: whether this process holds it."""

    def __init__(self, gateway: Gateway, intake: Intake, *, agents: Callable[[], list[str]],
                 checks: Callable[[], dict[str, Any]], owns: Callable[[str], bool]) -> None:
        self.gateway = gateway
        self.intake = intake
        self.agents = agents
        self.checks = checks
        self.owns = owns

    def collect(self) -> Iterator[Metric]:
        names = self.agents()
        if not names:
            return
        contacts = self.intake.contacts
        seen = GaugeMetricFamily(PREFIX + "agent_last_contact_timestamp_seconds",
                                 "When the centre last heard from the agent (a push or a poll), Unix seconds",
                                 labels=["agent"])
        offset = GaugeMetricFamily(PREFIX + "agent_clock_offset_seconds",
                                   "The agent's clock offset from the centre's as it last measured it "
                                   "(positive: the agent's clock is behind)", labels=["agent"])
        buffered = GaugeMetricFamily(PREFIX + "agent_buffered_results",
                                     "Results waiting in the agent's buffer at its last push", labels=["agent"])
        dropped = CounterMetricFamily(PREFIX + "agent_buffer_dropped",
                                      "Results the agent's buffer dropped (overflow) since it was created, "
                                      "as it last reported", labels=["agent"])
        for name in names:
            contact = contacts.get(name)
            if contact is None:
                continue
            seen.add_metric([name], contact.last_seen)
            if contact.clock_offset is not None:
                offset.add_metric([name], contact.clock_offset)
            buffered.add_metric([name], contact.buffered)
            dropped.add_metric([name], contact.dropped)
        yield from (seen, offset, buffered, dropped)
        stats = self.gateway.stats
        received = CounterMetricFamily(PREFIX + "agent_results_received",
                                       "New results this process stored from the agent", labels=["agent"])
        repeated = CounterMetricFamily(PREFIX + "agent_results_repeated",
                                       "Results the agent sent again that were stored already (kept once)",
                                       labels=["agent"])
        for name in names:
            received.add_metric([name], stats.results.get(name, 0))
            repeated.add_metric([name], stats.repeats.get(name, 0))
        refused = CounterMetricFamily(PREFIX + "agent_results_refused",
                                      "Results this process refused (403): not assigned to the agent's location, "
                                      "or from the future", labels=["agent", "reason"])
        for (name, reason), count in sorted(stats.refused.items()):
            refused.add_metric([name, reason], count)
        failures = CounterMetricFamily(PREFIX + "agent_auth_failures",
                                       "Requests to the agent endpoints refused: missing or invalid token (401), "
                                       "or too many failures from the address (429)", labels=["reason"])
        for reason in ("missing", "invalid", "rate_limited"):
            failures.add_metric([reason], stats.auth_failures.get(reason, 0))
        yield from (received, repeated, refused, failures)
        yield from self._locations()

    def _locations(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(PREFIX + "check_location_up",
                               "One location's latest result of a check run in several: 1 up or degraded, 0 down, "
                               "no sample while unknown or stale", labels=["check", "component", "location"])
        when = GaugeMetricFamily(PREFIX + "check_location_result_timestamp_seconds",
                                 "When that location's latest result of the check was taken, Unix seconds",
                                 labels=["check", "component", "location"])
        checks = self.checks()
        for check_id, locations in list(self.intake.seen.items()):
            check = checks.get(check_id)
            if check is None or not self.owns(check_id):
                continue
            for location, seen in list(locations.items()):
                labels = [check_id, check.component, location]
                if seen.status in _UP_VALUE:
                    up.add_metric(labels, _UP_VALUE[seen.status])
                when.add_metric(labels, seen.time)
        yield from (up, when)
