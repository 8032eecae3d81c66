"""The probe registry: one literal entry per kind, mapping the kind to its config model and its
probe function. The config loader builds its discriminated union from this dict, so a kind exists
in both places or in neither. A new kind is one module plus one line here."""

from __future__ import annotations

from dataclasses import dataclass

from probes import (
    agent,
    dns,
    etcd,
    flow,
    heartbeat,
    http,
    k8s_apiserver,
    k8s_apiservers,
    k8s_coredns,
    k8s_cronjob,
    k8s_daemonsets,
    k8s_dns,
    k8s_healthz,
    k8s_kubelet,
    k8s_lease,
    k8s_node,
    k8s_readyz,
    k8s_resource,
    k8s_workload,
    mysql,
    node_exporter,
    postgres,
    redis,
    registry,
    registry_sync,
    tcp,
    tls,
)
from probes.base import CheckBase, ProbeContext, ProbeFn, Result, Status

__all__ = ["CONFIGURABLE", "PROBES", "CheckBase", "ProbeContext", "ProbeKind", "Result", "Status"]


@dataclass(frozen=True, slots=True)
class ProbeKind:
    model: type[CheckBase]
    probe: ProbeFn
    configurable: bool = True
    """False for a kind the service makes itself (one `agent` check per configured agent): a config
    file cannot write it."""


PROBES: dict[str, ProbeKind] = {
    "agent": ProbeKind(agent.Check, agent.probe, configurable=False),
    "dns": ProbeKind(dns.Check, dns.probe),
    "etcd": ProbeKind(etcd.Check, etcd.probe),
    "flow": ProbeKind(flow.Check, flow.probe),
    "heartbeat": ProbeKind(heartbeat.Check, heartbeat.probe),
    "http": ProbeKind(http.Check, http.probe),
    "k8s_apiserver": ProbeKind(k8s_apiserver.Check, k8s_apiserver.probe),
    "k8s_apiservers": ProbeKind(k8s_apiservers.Check, k8s_apiservers.probe),
    "k8s_coredns": ProbeKind(k8s_coredns.Check, k8s_coredns.probe),
    "k8s_cronjob": ProbeKind(k8s_cronjob.Check, k8s_cronjob.probe),
    "k8s_daemonsets": ProbeKind(k8s_daemonsets.Check, k8s_daemonsets.probe),
    "k8s_dns": ProbeKind(k8s_dns.Check, k8s_dns.probe),
    "k8s_healthz": ProbeKind(k8s_healthz.Check, k8s_healthz.probe),
    "k8s_kubelet": ProbeKind(k8s_kubelet.Check, k8s_kubelet.probe),
    "k8s_lease": ProbeKind(k8s_lease.Check, k8s_lease.probe),
    "k8s_node": ProbeKind(k8s_node.Check, k8s_node.probe),
    "k8s_readyz": ProbeKind(k8s_readyz.Check, k8s_readyz.probe),
    "k8s_resource": ProbeKind(k8s_resource.Check, k8s_resource.probe),
    "k8s_workload": ProbeKind(k8s_workload.Check, k8s_workload.probe),
    "mysql": ProbeKind(mysql.Check, mysql.probe),
    "node_exporter": ProbeKind(node_exporter.Check, node_exporter.probe),
    "postgres": ProbeKind(postgres.Check, postgres.probe),
    "redis": ProbeKind(redis.Check, redis.probe),
    "registry": ProbeKind(registry.Check, registry.probe),
    "registry_sync": ProbeKind(registry_sync.Check, registry_sync.probe),
    "tcp": ProbeKind(tcp.Check, tcp.probe),
    "tls": ProbeKind(tls.Check, tls.probe),
}

CONFIGURABLE: dict[str, ProbeKind] = {kind: entry for kind, entry in PROBES.items() if entry.configurable}
"""The kinds a config file's checks may have."""
