"""Kubernetes clusters in the config: their models (`clusters:` entries, what each may watch) and
the checks each cluster always expands into, with the ids, components and dependencies every
cluster check shares. Pure: no I/O. Imports neither the config loader nor discovery, which both
build on it (monitor.discovery finds nodes, readiness sub-checks, jobs and workloads at run time)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from probes import (
    etcd,
    k8s_apiserver,
    k8s_apiservers,
    k8s_coredns,
    k8s_daemonsets,
    k8s_dns,
    k8s_healthz,
    k8s_kubelet,
    k8s_lease,
    k8s_node,
    k8s_readyz,
)
from probes.base import LOCATION_PATTERN, CheckBase, Duration, RunSettings
from probes.k8s_resource import ConditionStatus
from probes.k8s_workload import WorkloadKind
from probes.kube import SERVICE_ACCOUNT_DIR, KubeTarget

__all__ = [
    "ClusterConfig",
    "ClusterProbes",
    "CronJobSelect",
    "EtcdEndpoints",
    "ResourceSelect",
    "WorkloadSelect",
    "check_name",
    "cluster_checks",
    "common_settings",
    "component",
    "node_checks",
    "readyz_checks",
    "root_id",
    "target",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EtcdEndpoints(_Model):
    """A cluster's etcd members, probed directly (client URLs; TLS client certificate files)."""

    endpoints: list[str] = Field(min_length=1)
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


class ClusterProbes(_Model):
    """Which of a cluster's probes run. `kubelet` needs the `nodes/proxy` right (see
    deploy/kubernetes/rbac.yaml); `kube_proxy` needs the nodes' IPs reachable on port 10256;
    `dns_query` defaults to on in-cluster or when `dns_server` is given (a ClusterIP is
    rarely reachable from outside)."""

    apiserver: bool = True
    readyz_checks: bool = True
    leases: bool = True
    apiservers: bool = True
    nodes: bool = True
    node_runtime: bool = True
    kubelet: bool = False
    kube_proxy: bool = False
    dns_pods: bool = True
    dns_query: bool | None = None
    daemonsets: bool = True


_K8S_NAMESPACE = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"


class _ObjectSelect(_Model):
    """Which objects of a kind a cluster entry watches in `namespace` (`*`: every namespace): the
    one called `name`, those matching the label `selector`, or (neither) all of them."""

    namespace: str = Field(pattern=_K8S_NAMESPACE)
    name: str | None = Field(default=None, min_length=1, max_length=253)
    selector: str | None = Field(default=None, min_length=1)
    """A label selector as kubectl takes it (`app.kubernetes.io/part-of=paas,tier!=cache`)."""

    @model_validator(mode="after")
    def _name_or_selector(self) -> _ObjectSelect:
        if self.name is not None and self.selector is not None:
            raise ValueError("give name or selector, not both")
        return self


class CronJobSelect(_ObjectSelect):
    """CronJobs watched as `<cluster>/jobs/<namespace>.<name>` checks."""

    max_age: Annotated[Duration, Field(gt=0)] | None = None
    """The last successful run may be at most this old; default: two schedule periods (down once
    two scheduled runs after the last success have passed without a new one)."""
    max_runtime: Annotated[Duration, Field(gt=0)] | None = None
    """A Job running longer is down; default: one schedule period."""


class WorkloadSelect(_ObjectSelect):
    """Deployments, StatefulSets or DaemonSets watched as `<cluster>/workloads/<ns>.<kind>.<name>`."""

    kind: WorkloadKind


class ResourceSelect(_ObjectSelect):
    """Objects of any resource (custom resources included) judged by their status.conditions,
    watched as `<cluster>/resources/<ns>.<kind>.<name>`. Unset namespace: every namespace (or
    the cluster scope for a cluster-scoped kind)."""

    namespace: str = Field(default="*", pattern=_K8S_NAMESPACE)
    api_version: str = Field(pattern=r"^(v1|[a-z0-9.-]+/[a-z0-9]+)$")
    """`group/version` (`postgresql.cnpg.io/v1`), or `v1` for the core group."""
    kind: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    conditions: dict[str, ConditionStatus] = Field(default_factory=lambda: {"Ready": "True"}, min_length=1)
    """Condition type → the status it must have."""

    @model_validator(mode="before")
    @classmethod
    def _unquoted_status(cls, data: Any) -> Any:
        """`Ready: True` unquoted in YAML is a boolean: read it as the condition status "True"."""
        if isinstance(data, dict) and isinstance(data.get("conditions"), dict):
            data = {**data, "conditions": {k: str(v) if isinstance(v, bool) else v
                                           for k, v in data["conditions"].items()}}
        return data


class ClusterConfig(RunSettings):
    """One Kubernetes cluster: expands into checks under `<name>/control-plane`, `<name>/nodes`,
    `<name>/dns` and `<name>/etcd`, and the watched objects' under `<name>/jobs`,
    `<name>/workloads` and `<name>/resources` (monitor.discovery)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    service_account_dir: str = SERVICE_ACCOUNT_DIR
    cluster_domain: str = "cluster.local"
    dns_server: str | None = None
    """`ip[:port]` of the cluster DNS; default the kube-dns Service's ClusterIP."""
    skew: Duration = 10.0
    """Clock-skew margin for Lease freshness (leader and node heartbeats)."""
    apiservers: int | None = Field(default=None, ge=1)
    """How many kube-apiservers run (HA); unset, the apiservers check counts them and is down only at none."""
    apiserver_stale_after: Duration = Field(default=60.0, gt=0)
    """An apiserver identity Lease not renewed for longer (they renew every 10 s) counts as a dead apiserver."""
    etcd: EtcdEndpoints | None = None
    scheduler_url: str | None = None
    """Direct kube-scheduler health URL (`https://<cp>:10259/healthz`), when reachable."""
    controller_manager_url: str | None = None
    """Direct kube-controller-manager health URL (`https://<cp>:10257/healthz`), when reachable."""
    probes: ClusterProbes = ClusterProbes()
    cronjobs: list[CronJobSelect] = Field(default_factory=list)
    """CronJobs to watch: one check each under `<name>/jobs`, found at run time."""
    workloads: list[WorkloadSelect] = Field(default_factory=list)
    """Deployments, StatefulSets, DaemonSets: one check each under `<name>/workloads`."""
    resources: list[ResourceSelect] = Field(default_factory=list)
    """Any resource judged by its conditions: one check per object under `<name>/resources`."""
    labels: dict[str, str] = Field(default_factory=dict)
    location: str | None = Field(default=None, max_length=63, pattern=LOCATION_PATTERN)
    """Where the cluster's checks run and its discovery happens: an agent's name for an agent
    inside (or beside) the cluster, `central` (the default) for the service itself."""

    @model_validator(mode="after")
    def _one_login(self) -> ClusterConfig:
        if self.in_cluster and (self.kubeconfig or self.context):
            raise ValueError("in_cluster uses the pod's service account: leave kubeconfig and context unset")
        return self


KUBE_PROXY_HEALTHZ_PORT = 10256
LEADER_LEASES = ("kube-scheduler", "kube-controller-manager")
ETCD_READYZ_CHECKS = ("etcd", "etcd-readiness")  # shown under <cluster>/etcd, not control-plane


def target(cluster: ClusterConfig) -> KubeTarget:
    return KubeTarget(name=cluster.name, kubeconfig=cluster.kubeconfig, context=cluster.context,
                      in_cluster=cluster.in_cluster, service_account_dir=cluster.service_account_dir)


def component(cluster: ClusterConfig, part: str) -> str:
    return f"{cluster.name}/{part}"


def root_id(cluster: ClusterConfig) -> str:
    """The check every other check of the cluster depends on: is the apiserver alive at all."""
    return f"{component(cluster, 'control-plane')}/apiserver-livez"


def check_name(text: str) -> str:
    """A check name from a Kubernetes name that may hold '/' (`poststarthook/…`): ':' stands for it."""
    return text.replace("/", ":")


def common_settings(cluster: ClusterConfig, part: str, name: str, *, depends: bool = True) -> dict[str, Any]:
    """What every check of a cluster shares: its component, the cluster's interval, timeout,
    thresholds and labels, and (unless `depends` is off) the apiserver-livez parent."""
    return {
        "name": name,
        "component": component(cluster, part),
        "interval": cluster.interval,
        "timeout": cluster.timeout,
        "failure_threshold": cluster.failure_threshold,
        "success_threshold": cluster.success_threshold,
        "labels": {**cluster.labels, "cluster": cluster.name},
        "depends_on": [root_id(cluster)] if depends else [],
        "location": cluster.location,
    }


def cluster_checks(cluster: ClusterConfig) -> list[CheckBase]:
    """The checks a cluster always has (nodes and readiness sub-checks are found at run time)."""
    on, kube = cluster.probes, target(cluster)
    checks: list[CheckBase] = []
    if on.apiserver:
        checks += [
            k8s_apiserver.Check(**common_settings(cluster, "control-plane", "apiserver-livez", depends=False),
                                cluster=kube, endpoint="livez"),
            k8s_apiserver.Check(**common_settings(cluster, "control-plane", "apiserver-readyz"), cluster=kube,
                                endpoint="readyz"),
        ]
    if on.leases:
        checks += [
            k8s_lease.Check(**common_settings(cluster, "control-plane", f"{lease}-lease"), cluster=kube, lease=lease,
                            skew=cluster.skew)
            for lease in LEADER_LEASES
        ]
    if on.apiservers:
        checks.append(k8s_apiservers.Check(**common_settings(cluster, "control-plane", "apiservers"), cluster=kube,
                                           expected=cluster.apiservers, stale_after=cluster.apiserver_stale_after))
    for name, url in (("kube-scheduler-healthz", cluster.scheduler_url),
                      ("kube-controller-manager-healthz", cluster.controller_manager_url)):
        if url:
            checks.append(k8s_healthz.Check(**common_settings(cluster, "control-plane", name, depends=False), url=url))
    if on.dns_pods:
        checks.append(k8s_coredns.Check(**common_settings(cluster, "dns", "coredns-pods"), cluster=kube))
    if on.dns_query if on.dns_query is not None else (cluster.in_cluster or cluster.dns_server is not None):
        # With a fixed server the query does not go through the apiserver at all.
        checks.append(k8s_dns.Check(**common_settings(cluster, "dns", "query", depends=cluster.dns_server is None),
                                    cluster=kube, cluster_domain=cluster.cluster_domain, server=cluster.dns_server))
    if on.daemonsets:
        checks.append(k8s_daemonsets.Check(**common_settings(cluster, "nodes", "daemonsets"), cluster=kube))
    if cluster.etcd is not None:
        block = cluster.etcd
        for endpoint in block.endpoints:
            name = check_name(endpoint.split("://", 1)[-1].rstrip("/"))
            checks.append(etcd.Check(**common_settings(cluster, "etcd", name, depends=False), endpoints=[endpoint],
                                     ca=block.ca, cert=block.cert, key=block.key))
    return checks


def readyz_checks(cluster: ClusterConfig, names: list[str]) -> list[CheckBase]:
    """One check per readiness sub-check the apiserver reports (etcd's under `<cluster>/etcd`)."""
    kube = target(cluster)
    return [
        k8s_readyz.Check(**common_settings(cluster, "etcd" if name in ETCD_READYZ_CHECKS else "control-plane",
                                   f"readyz-{check_name(name)}"), cluster=kube, check=name)
        for name in names
    ]


def _internal_ip(node: dict[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return address.get("address")
    return None


def node_checks(cluster: ClusterConfig, nodes: list[dict[str, Any]]) -> list[CheckBase]:
    """The checks of each Node that exists now: status, runtime, and optionally kubelet / kube-proxy."""
    on, kube = cluster.probes, target(cluster)
    checks: list[CheckBase] = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        checks.append(k8s_node.Check(**common_settings(cluster, "nodes", name), cluster=kube, node=name,
                                     skew=cluster.skew))
        if on.node_runtime:
            checks.append(k8s_node.Check(**common_settings(cluster, "nodes", f"{name}:runtime"), cluster=kube,
                                         node=name, aspect="runtime"))
        if on.kubelet:
            checks.append(k8s_kubelet.Check(**common_settings(cluster, "nodes", f"{name}:kubelet"), cluster=kube,
                                            node=name))
        ip = _internal_ip(node)
        if on.kube_proxy and ip:
            host = f"[{ip}]" if ":" in ip else ip
            checks.append(k8s_healthz.Check(**common_settings(cluster, "nodes", f"{name}:kube-proxy"),
                                            url=f"http://{host}:{KUBE_PROXY_HEALTHZ_PORT}/healthz"))
    return checks
