"""Clusters → checks: the fixed checks each `clusters:` entry expands into (apiserver, Leases, DNS,
DaemonSets, etcd), and the ClusterDiscovery service part that keeps each cluster's node, readiness
sub-check, CronJob, workload and resource checks current. Knows the engine only through `config`
and `set_discovered`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from probes import (
    etcd,
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
)
from probes.base import CheckBase
from probes.kube import ApiError, ClusterClient, KubeClients, KubeTarget
from probes.kube_objects import ALL_NAMESPACES, list_objects, list_path, resolve_resource

if TYPE_CHECKING:
    from monitor.config import ClusterConfig
    from monitor.ports import ConfigSource

__all__ = [
    "ClusterDiscovery",
    "cluster_checks",
    "cronjob_checks",
    "node_checks",
    "readyz_checks",
    "resource_checks",
    "workload_checks",
]

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between looks at the config for clusters that are due, new or gone
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


def _common(cluster: ClusterConfig, part: str, name: str, *, depends: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "component": component(cluster, part),
        "interval": cluster.interval,
        "timeout": cluster.timeout,
        "failure_threshold": cluster.failure_threshold,
        "success_threshold": cluster.success_threshold,
        "labels": {**cluster.labels, "cluster": cluster.name},
        "depends_on": [root_id(cluster)] if depends else [],
    }


def cluster_checks(cluster: ClusterConfig) -> list[CheckBase]:
    """The checks a cluster always has (nodes and readiness sub-checks are found at run time)."""
    on, kube = cluster.probes, target(cluster)
    checks: list[CheckBase] = []
    if on.apiserver:
        checks += [
            k8s_apiserver.Check(**_common(cluster, "control-plane", "apiserver-livez", depends=False),
                                cluster=kube, endpoint="livez"),
            k8s_apiserver.Check(**_common(cluster, "control-plane", "apiserver-readyz"), cluster=kube,
                                endpoint="readyz"),
        ]
    if on.leases:
        checks += [
            k8s_lease.Check(**_common(cluster, "control-plane", f"{lease}-lease"), cluster=kube, lease=lease,
                            skew=cluster.skew)
            for lease in LEADER_LEASES
        ]
    if on.apiservers:
        checks.append(k8s_apiservers.Check(**_common(cluster, "control-plane", "apiservers"), cluster=kube,
                                           expected=cluster.apiservers, stale_after=cluster.apiserver_stale_after))
    for name, url in (("kube-scheduler-healthz", cluster.scheduler_url),
                      ("kube-controller-manager-healthz", cluster.controller_manager_url)):
        if url:
            checks.append(k8s_healthz.Check(**_common(cluster, "control-plane", name, depends=False), url=url))
    if on.dns_pods:
        checks.append(k8s_coredns.Check(**_common(cluster, "dns", "coredns-pods"), cluster=kube))
    if on.dns_query if on.dns_query is not None else (cluster.in_cluster or cluster.dns_server is not None):
        # With a fixed server the query does not go through the apiserver at all.
        checks.append(k8s_dns.Check(**_common(cluster, "dns", "query", depends=cluster.dns_server is None),
                                    cluster=kube, cluster_domain=cluster.cluster_domain, server=cluster.dns_server))
    if on.daemonsets:
        checks.append(k8s_daemonsets.Check(**_common(cluster, "nodes", "daemonsets"), cluster=kube))
    if cluster.etcd is not None:
        block = cluster.etcd
        for endpoint in block.endpoints:
            name = check_name(endpoint.split("://", 1)[-1].rstrip("/"))
            checks.append(etcd.Check(**_common(cluster, "etcd", name, depends=False), endpoints=[endpoint],
                                     ca=block.ca, cert=block.cert, key=block.key))
    return checks


def readyz_checks(cluster: ClusterConfig, names: list[str]) -> list[CheckBase]:
    """One check per readiness sub-check the apiserver reports (etcd's under `<cluster>/etcd`)."""
    kube = target(cluster)
    return [
        k8s_readyz.Check(**_common(cluster, "etcd" if name in ETCD_READYZ_CHECKS else "control-plane",
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
        checks.append(k8s_node.Check(**_common(cluster, "nodes", name), cluster=kube, node=name, skew=cluster.skew))
        if on.node_runtime:
            checks.append(k8s_node.Check(**_common(cluster, "nodes", f"{name}:runtime"), cluster=kube, node=name,
                                         aspect="runtime"))
        if on.kubelet:
            checks.append(k8s_kubelet.Check(**_common(cluster, "nodes", f"{name}:kubelet"), cluster=kube, node=name))
        ip = _internal_ip(node)
        if on.kube_proxy and ip:
            host = f"[{ip}]" if ":" in ip else ip
            checks.append(k8s_healthz.Check(**_common(cluster, "nodes", f"{name}:kube-proxy"),
                                            url=f"http://{host}:{KUBE_PROXY_HEALTHZ_PORT}/healthz"))
    return checks


def _meta(obj: dict[str, Any]) -> tuple[str | None, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace"), meta["name"]


def _matches(entry: Any, obj: dict[str, Any]) -> bool:
    return entry.name is None or _meta(obj)[1] == entry.name


async def _listed(entry: Any, listing: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """The LIST of an entry. When the monitor may not read it (401/403): an entry that names its
    object still gets its check, which then shows "misconfigured: …" instead of nothing at all;
    other entries keep the checks they had (None)."""
    try:
        return await listing
    except ApiError as exc:
        if not exc.misconfigured:
            raise
        if entry.name is not None and entry.namespace != ALL_NAMESPACES:
            return [{"metadata": {"namespace": entry.namespace, "name": entry.name}}]
        return None


def _kept(entry: Any, known: list[CheckBase]) -> list[CheckBase]:
    """The known checks an entry found before (same LIST): they stay while it cannot list."""
    return [c for c in known if getattr(c, "scope", None) == entry.namespace
            and getattr(c, "selector", None) == entry.selector]


async def cronjob_checks(cluster: ClusterConfig, client: ClusterClient,
                         known: list[CheckBase] | None = None) -> list[CheckBase]:
    """One check per CronJob the cluster's `cronjobs:` entries match now: `<c>/jobs/<ns>.<name>`."""
    kube, found = target(cluster), {}
    for entry in cluster.cronjobs:
        items = await _listed(entry, list_objects(client, list_path("batch/v1", "cronjobs", entry.namespace),
                                                  selector=entry.selector, interval=cluster.interval,
                                                  request_timeout=cluster.timeout))
        if items is None:
            found.update((c.id, c) for c in _kept(entry, known or []) if c.id not in found)
            continue
        for obj in filter(lambda o, e=entry: _matches(e, o), items):
            namespace, name = _meta(obj)
            check = k8s_cronjob.Check(**_common(cluster, "jobs", f"{namespace}.{name}"), cluster=kube,
                                      namespace=namespace, cronjob=name, scope=entry.namespace,
                                      selector=entry.selector, max_age=entry.max_age, max_runtime=entry.max_runtime)
            found.setdefault(check.id, check)
    return [found[cid] for cid in sorted(found)]


def registry_hosts(checks: list[CheckBase]) -> dict[str, list[str]]:
    """Registry host (`reg.example.com[:port]`) → ids of the configured `registry` checks of it."""
    hosts: dict[str, list[str]] = {}
    for check in checks:
        url = getattr(check, "url", "") if check.kind == "registry" else ""
        if url:
            netloc = urlsplit(url).netloc.lower()
            netloc = netloc.removesuffix(":443") if url.startswith("https:") else netloc.removesuffix(":80")
            for host in DOCKER_HUB_HOSTS if netloc in DOCKER_HUB_HOSTS else (netloc,):
                hosts.setdefault(host, []).append(check.id)
    return hosts


DOCKER_HUB_HOSTS = ("docker.io", "registry-1.docker.io", "index.docker.io")


async def workload_checks(cluster: ClusterConfig, client: ClusterClient, registries: dict[str, list[str]],
                          known: list[CheckBase] | None = None) -> list[CheckBase]:
    """One check per Deployment/StatefulSet/DaemonSet the `workloads:` entries match now
    (`<c>/workloads/<ns>.<kind>.<name>`), depending on the registry checks its images come from."""
    kube, found = target(cluster), {}
    for entry in cluster.workloads:
        resource = k8s_workload.RESOURCES[entry.kind]
        items = await _listed(entry, list_objects(client, list_path("apps/v1", resource, entry.namespace),
                                                  selector=entry.selector, interval=cluster.interval,
                                                  request_timeout=cluster.timeout))
        if items is None:
            found.update((c.id, c) for c in _kept(entry, known or []) if c.id not in found
                         and getattr(c, "workload_kind", None) == entry.kind)
            continue
        for obj in filter(lambda o, e=entry: _matches(e, o), items):
            namespace, name = _meta(obj)
            common = _common(cluster, "workloads", f"{namespace}.{entry.kind.lower()}.{name}")
            hosts = sorted({k8s_workload.image_registry(image) for image in k8s_workload.images(obj)})
            parents = [cid for host in hosts for cid in registries.get(host, [])]
            common["depends_on"] = [*common["depends_on"], *dict.fromkeys(parents)]
            check = k8s_workload.Check(**common, cluster=kube, namespace=namespace, workload_kind=entry.kind,
                                       workload=name, scope=entry.namespace, selector=entry.selector)
            found.setdefault(check.id, check)
    return [found[cid] for cid in sorted(found)]


async def resource_checks(cluster: ClusterConfig, client: ClusterClient) -> list[CheckBase]:
    """One check per object the `resources:` entries match now: `<c>/resources/<ns>.<kind>.<name>`
    (`<kind>.<name>` when cluster-scoped). A kind the cluster does not serve is skipped, logged."""
    kube, found = target(cluster), {}
    for entry in cluster.resources:
        resolved = await resolve_resource(client, entry.api_version, entry.kind, request_timeout=cluster.timeout)
        if resolved is None:
            log.warning("cluster %s: %s %s is not served (CRD not installed?)", cluster.name, entry.api_version,
                        entry.kind)
            continue
        resource, namespaced = resolved
        scope = entry.namespace if namespaced else None
        items = await list_objects(client, list_path(entry.api_version, resource, scope), selector=entry.selector,
                                   interval=cluster.interval, request_timeout=cluster.timeout)
        for obj in filter(lambda o, e=entry: _matches(e, o), items):
            namespace, name = _meta(obj)
            label = f"{entry.kind.lower()}.{name}" if not namespaced else f"{namespace}.{entry.kind.lower()}.{name}"
            check = k8s_resource.Check(**_common(cluster, "resources", check_name(label)), cluster=kube,
                                       api_version=entry.api_version, resource_kind=entry.kind, resource=resource,
                                       namespace=namespace if namespaced else None, object=name, scope=scope,
                                       selector=entry.selector, expected=dict(entry.conditions))
            found.setdefault(check.id, check)
    return [found[cid] for cid in sorted(found)]


class ClusterDiscovery:
    """Service part: every cluster interval, lists the cluster's Nodes and reads its readiness
    sub-checks, and publishes the checks they make (`cluster:<name>:nodes`,
    `cluster:<name>:readyz`). Checks of nodes that went are retired by the engine with their
    history kept. While the apiserver does not answer, the last known set stays."""

    def __init__(self, *, config: ConfigSource, kube: Callable[[], KubeClients],
                 publish: Callable[[str, list[CheckBase]], None]) -> None:
        self._current = config
        self._kube_clients = kube
        self._publish = publish
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, ClusterConfig] = {}
        self._next: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._published: dict[str, list[CheckBase]] = {}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cluster-discovery")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def _kube(self) -> KubeClients:
        return self._kube_clients()

    async def _loop(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:
                log.exception("cluster discovery failed")
            await asyncio.sleep(TICK)

    def _tick(self) -> None:
        clusters = {c.name: c for c in self._current().clusters}
        for name in [n for n in self._seen if n not in clusters]:
            del self._seen[name]
            self._next.pop(name, None)
            for source in [s for s in self._published if s.startswith(f"cluster:{name}:")]:
                self._publish(source, [])
        now = time.monotonic()
        for name, cluster in clusters.items():
            changed = self._seen.get(name) != cluster
            if (changed or now >= self._next.get(name, 0.0)) and name not in self._running:
                self._seen[name] = cluster
                self._next[name] = now + cluster.interval
                task = asyncio.create_task(self._refresh(cluster), name=f"discover:{name}")
                self._running[name] = task
                task.add_done_callback(lambda _t, n=name: self._running.pop(n, None))

    async def _refresh(self, cluster: ClusterConfig) -> None:
        client = self._kube.get(target(cluster))
        registries = registry_hosts(list(self._current().checks))
        await asyncio.gather(
            self._control_plane(cluster, client),
            self._objects(cluster, "jobs", cluster.cronjobs and cronjob_checks(cluster, client, self._known(
                cluster, "jobs"))),
            self._objects(cluster, "workloads", cluster.workloads and workload_checks(
                cluster, client, registries, self._known(cluster, "workloads"))),
            self._objects(cluster, "resources", cluster.resources and resource_checks(cluster, client)),
        )

    def _known(self, cluster: ClusterConfig, part: str) -> list[CheckBase]:
        return self._published.get(f"cluster:{cluster.name}:{part}", [])

    async def _control_plane(self, cluster: ClusterConfig, client: ClusterClient) -> None:
        try:
            async with asyncio.timeout(cluster.timeout * 2):
                if cluster.probes.nodes:
                    nodes = await k8s_node.node_objects(client, interval=cluster.interval,
                                                        request_timeout=cluster.timeout)
                    self._publish(f"cluster:{cluster.name}:nodes", node_checks(cluster, nodes))
                if cluster.probes.apiserver and cluster.probes.readyz_checks:
                    health = await k8s_apiserver.fetch_health(client, "readyz", request_timeout=cluster.timeout,
                                                              ttl=cluster.interval / 2)
                    if health.checks:
                        self._publish(f"cluster:{cluster.name}:readyz", readyz_checks(cluster, list(health.checks)))
        except (ApiError, TimeoutError) as exc:
            log.debug("cluster %s: discovery skipped (%s); the known checks stay", cluster.name, exc)

    async def _objects(self, cluster: ClusterConfig, part: str, found: Awaitable[list[CheckBase]] | list) -> None:
        """Publish the checks of one kind of watched object; on an error the known ones stay."""
        source = f"cluster:{cluster.name}:{part}"
        try:
            async with asyncio.timeout(cluster.timeout * 2):
                checks = found if isinstance(found, list) else await found
        except (ApiError, TimeoutError) as exc:
            level = logging.WARNING if isinstance(exc, ApiError) and exc.misconfigured else logging.DEBUG
            log.log(level, "cluster %s: %s discovery skipped (%s); the known checks stay", cluster.name, part, exc)
            return
        self._publish(source, checks)

    def _publish(self, source: str, checks: list[CheckBase]) -> None:
        if self._published.get(source) == checks:
            return
        if checks:
            self._published[source] = checks
        else:
            self._published.pop(source, None)
        log.info("%s: %d checks", source, len(checks))
        self._publish(source, checks)
