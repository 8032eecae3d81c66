"""Prometheus exposition: custom collectors over in-memory state, so the series are exactly the
checks that exist now (a retired check vanishes). `collect()` never touches the database. Each
collector gets the narrow view it reads (monitor.ports), never the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from monitor.ports import EngineStats, ReloadStats, StateView
from monitor.scheduler import LAG_BUCKETS
from monitor.state import DURATION_BUCKETS
from probes.base import Status

if TYPE_CHECKING:
    from monitor.housekeeping import Housekeeping

PREFIX = "platform_monitor_"
_STATUSES = (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN)
_UP_VALUE: dict[Status, float] = {Status.UP: 1.0, Status.DEGRADED: 1.0, Status.DOWN: 0.0}
"""The `*_up` value of a state: available (up or degraded, as uptime counts it) or down. Unknown has
no sample, so `avg_over_time(..._up[30d])` leaves unknown time out, as the availability figures do."""


def _histogram_buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    out, total = [], 0
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return out


class EngineCollector:
    """Yields the check and component metrics of a state view and, when given, the engine's own
    figures (scheduler, storage) and this process's config reloads."""

    def __init__(self, state: StateView, stats: Callable[[], EngineStats] | None = None,
                 reloads: ReloadStats | None = None, *, owns: Callable[[str], bool] | None = None,
                 leader: Callable[[], bool] | None = None) -> None:
        self.state = state
        self.stats = stats
        self.reloads = reloads
        self.owns = owns
        """With several processes each exports the checks it holds (Prometheus scrapes all of
        them and aggregates by `check`); None: every check."""
        self.leader = leader
        """Whether this process exports the components (the leader alone, like their history)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._checks()
        yield from self._components()
        yield from self._self()

    def _checks(self) -> Iterator[Metric]:
        labels = ["check", "component", "kind"]
        up = GaugeMetricFamily(
            PREFIX + "check_up",
            "1 if the check's state is up or degraded (available), 0 if down; no sample while unknown."
            " The state itself: platform_monitor_check_status.",
            labels=labels,
        )
        status = GaugeMetricFamily(
            PREFIX + "check_status",
            "1 on the series of the check's state (status: up, degraded, down, unknown), 0 on the other three.",
            labels=[*labels, "status"],
        )
        last_run = GaugeMetricFamily(
            PREFIX + "check_last_run_timestamp_seconds",
            "When the check last ran (unix seconds).",
            labels=labels,
        )
        since = GaugeMetricFamily(
            PREFIX + "check_state_since_timestamp_seconds",
            "When the check entered its current state (unix seconds).",
            labels=labels,
        )
        runs = CounterMetricFamily(
            PREFIX + "check_runs", "Runs of the check by result.", labels=[*labels, "result"]
        )
        duration = HistogramMetricFamily(
            PREFIX + "check_duration_seconds", "How long each run took.", labels=labels
        )
        latency = GaugeMetricFamily(
            PREFIX + "check_latency_seconds", "The last run's latency.", labels=labels
        )
        phases = GaugeMetricFamily(PREFIX + "check_phase_duration_seconds",
                                   "The last run's time per phase (connect, tls, auth, manifest ...).",
                                   labels=[*labels, "phase"])
        cert = GaugeMetricFamily(
            PREFIX + "tls_cert_expiry_timestamp_seconds",
            "When the target's TLS certificate expires (unix seconds).",
            labels=labels,
        )
        owns = self.owns
        for cid, st in self.state.checks.items():
            if owns is not None and not owns(cid):
                continue
            values = [cid, st.check.component, st.check.kind]
            if st.status in _UP_VALUE:
                up.add_metric(values, _UP_VALUE[st.status])
            for s in _STATUSES:
                status.add_metric([*values, s.value], 1.0 if st.status == s else 0.0)
            for result, count in st.runs.items():
                runs.add_metric([*values, result], count)
            duration.add_metric(values, _histogram_buckets(DURATION_BUCKETS, st.buckets), st.duration_sum)
            if st.since is not None:
                since.add_metric(values, st.since)
            last = st.last_result
            if last is not None:
                last_run.add_metric(values, last.time)
                latency.add_metric(values, last.latency or 0.0)
                for phase, seconds in (last.details.get("phases") or {}).items():
                    if isinstance(seconds, int | float):
                        phases.add_metric([*values, phase], float(seconds))
                expiry = last.details.get("cert_not_after")
                if isinstance(expiry, int | float):
                    cert.add_metric(values, float(expiry))
        yield from (up, status, last_run, since, runs, duration, latency, phases, cert)

    def _components(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            PREFIX + "component_up",
            "1 if the component's status (the worst known state of its checks) is up or degraded (available),"
            " 0 if down; no sample while unknown (no check known)."
            " The status itself: platform_monitor_component_status.",
            labels=["component"],
        )
        status = GaugeMetricFamily(
            PREFIX + "component_status",
            "1 on the series of the component's status (up, degraded, down, unknown), 0 on the other three.",
            labels=["component", "status"],
        )
        if self.leader is not None and not self.leader():
            return
        for name, comp in self.state.components.items():
            if comp.status in _UP_VALUE:
                up.add_metric([name], _UP_VALUE[comp.status])
            for s in _STATUSES:
                status.add_metric([name, s.value], 1.0 if comp.status == s else 0.0)
        yield from (up, status)

    def _self(self) -> Iterator[Metric]:
        if self.reloads is not None:
            reloads = CounterMetricFamily(
                PREFIX + "config_reloads", "Config reloads by outcome.", labels=["outcome"]
            )
            for outcome, count in self.reloads.outcomes().items():
                reloads.add_metric([outcome], count)
            yield reloads
            yield GaugeMetricFamily(
                PREFIX + "config_last_reload_successful",
                "1 if the last config reload was applied (or none was tried), 0 if it was refused.",
                value=1.0 if self.reloads.last_successful else 0.0,
            )
        if self.stats is None:
            return
        stats = self.stats()
        lag = HistogramMetricFamily(
            PREFIX + "scheduler_lag_seconds",
            "Delay between a run's due time and its start (after a stall: from the first instant it missed)."
        )
        lag.add_metric([], _histogram_buckets(LAG_BUCKETS, list(stats.lag_buckets)), stats.lag_sum)
        yield lag
        yield CounterMetricFamily(
            PREFIX + "scheduler_skipped_runs",
            "Due instants that did not start a run of their own: merged after a stall of the event loop,"
            " missed, or skipped because the previous run of the check was still going.",
            value=stats.skipped_runs,
        )
        yield GaugeMetricFamily(
            PREFIX + "checks_configured", "Checks in the current config.", value=stats.checks_configured
        )
        yield GaugeMetricFamily(
            PREFIX + "probes_in_flight", "Probes running now.", value=stats.probes_in_flight
        )
        writer = stats.writer
        if writer is not None:
            yield GaugeMetricFamily(
                PREFIX + "storage_pending_writes", "Rows waiting to be written.", value=writer.pending
            )
            yield CounterMetricFamily(
                PREFIX + "storage_dropped_writes",
                "Results dropped because the write buffer was full while the database was unreachable.",
                value=writer.dropped,
            )
            yield CounterMetricFamily(
                PREFIX + "storage_rows_written", "Rows written to the database.", value=writer.rows_written
            )
            yield CounterMetricFamily(
                PREFIX + "storage_write_failures", "Failed write attempts.", value=writer.failures
            )
            yield GaugeMetricFamily(
                PREFIX + "storage_up",
                "1 if the database answers the watchdog's ping (within 2 s) and the last write attempt succeeded.",
                value=1.0 if writer.up else 0.0,
            )


class HousekeepingCollector:
    """Yields the housekeeping part's counters (monitor.housekeeping): runs per job and outcome,
    last success, time spent, rollup hours written, rows deleted by retention. Memory only."""

    def __init__(self, housekeeping: Housekeeping) -> None:
        self.housekeeping = housekeeping

    def collect(self) -> Iterator[Metric]:
        hk = self.housekeeping
        runs = CounterMetricFamily(PREFIX + "housekeeping_runs", "Housekeeping job runs by outcome.",
                                   labels=["job", "outcome"])
        for (job, outcome), count in sorted(hk.outcomes.items()):
            runs.add_metric([job, outcome], count)
        last = GaugeMetricFamily(PREFIX + "housekeeping_last_success_timestamp_seconds",
                                 "When each housekeeping job last succeeded (unix seconds).", labels=["job"])
        for job, ts in sorted(hk.last_success.items()):
            last.add_metric([job], ts)
        spent = CounterMetricFamily(PREFIX + "housekeeping_duration_seconds",
                                    "Time spent in successful runs of each housekeeping job.", labels=["job"])
        for job, seconds in sorted(hk.seconds_total.items()):
            spent.add_metric([job], seconds)
        deleted = CounterMetricFamily(PREFIX + "housekeeping_deleted_rows",
                                      "Rows deleted by retention, by table.", labels=["table"])
        for table, rows in sorted(hk.rows_deleted.items()):
            deleted.add_metric([table], rows)
        yield from (runs, last, spent, deleted)
        yield CounterMetricFamily(PREFIX + "housekeeping_rolled_up_rows",
                                  "Hourly rollup rows (re)computed (one per check and hour).", value=hk.rollup_rows)


def build_registry(*collectors: Collector) -> CollectorRegistry:
    """A fresh registry with the given collectors and the process metrics (CPU, memory, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


class LeaseCollector:
    """The shards this process holds, its lease rounds, and the processes it sees."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator

    def collect(self) -> Iterator[Metric]:
        c = self.coordinator
        yield GaugeMetricFamily(PREFIX + "shards_owned", "Shards this process holds a lease on and probes.",
                                value=len(c.active) if c.active is not None else c.shards)
        renewals = CounterMetricFamily(
            PREFIX + "lease_renewals",
            "Lease rounds by outcome: success, failure (the database did not answer or refused), lost (a shard"
            " another process holds now, counted per shard).", labels=["outcome"])
        for outcome, count in c.stats.renewals.items():
            renewals.add_metric([outcome], count)
        yield renewals
        now = c.stats.db_now
        live = sum(1 for r in c.stats.replicas if now is not None and r.expires_at > now) if now is not None else 1
        yield GaugeMetricFamily(PREFIX + "replicas",
                                "Live processes sharing the database, as this one last saw them.", value=live)
        yield GaugeMetricFamily(PREFIX + "leader",
                                "1 if this process holds the leader lease (housekeeping, components).",
                                value=1.0 if c.leader else 0.0)
