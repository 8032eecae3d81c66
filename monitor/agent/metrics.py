"""The agent's own Prometheus metrics: a custom collector over a snapshot of its figures (buffer,
pushes, clock, assignment), read from memory only; never the buffer file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.agent.link import Outcome
from monitor.metrics import PREFIX

AGENT_PREFIX = PREFIX + "agent_"


@dataclass(frozen=True, slots=True)
class AgentStats:
    """The agent's figures now (monitor.agent.service.Agent.stats)."""

    buffered: int
    dropped: int
    refused: int
    pushes: Mapping[str, int]  # by outcome (monitor.agent.link.Outcome)
    results_made: int
    results_sent: int
    clock_offset: float
    config_version: str | None
    checks: int


class AgentCollector:
    def __init__(self, stats: Callable[[], AgentStats]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats()
        yield GaugeMetricFamily(AGENT_PREFIX + "buffer_results", "Results waiting in the buffer file for the centre.",
                                value=s.buffered)
        yield CounterMetricFamily(AGENT_PREFIX + "buffer_dropped",
                                  "Results the full buffer dropped (the oldest first) since its file was created.",
                                  value=s.dropped)
        yield CounterMetricFamily(AGENT_PREFIX + "results_refused",
                                  "Results dropped because the centre refused them (checks not assigned to this "
                                  "agent, or a result it would not take) since the buffer file was created.",
                                  value=s.refused)
        pushes = CounterMetricFamily(AGENT_PREFIX + "pushes", "Pushes of result batches to the centre, by outcome.",
                                     labels=["outcome"])
        for outcome in Outcome:
            if outcome is not Outcome.NOT_MODIFIED:
                pushes.add_metric([outcome.value], s.pushes.get(outcome.value, 0))
        yield pushes
        yield CounterMetricFamily(AGENT_PREFIX + "results", "Results made (runs of its checks) since it started.",
                                  value=s.results_made)
        yield CounterMetricFamily(AGENT_PREFIX + "results_sent", "Results the centre accepted (200).",
                                  value=s.results_sent)
        yield GaugeMetricFamily(AGENT_PREFIX + "clock_offset_seconds",
                                "The centre's clock minus this machine's, as estimated from the centre's answers.",
                                value=s.clock_offset)
        version = GaugeMetricFamily(AGENT_PREFIX + "config_version_info",
                                    "The version of the assignment (checks and settings) the agent runs.",
                                    labels=["version"])
        if s.config_version is not None:
            version.add_metric([s.config_version], 1.0)
        yield version
        yield GaugeMetricFamily(AGENT_PREFIX + "checks", "Checks the agent runs (assigned and discovered).",
                                value=s.checks)
