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

from monitor.clusters import ClusterConfig, check_name, common_settings, node_checks, readyz_checks, target
from probes import (
    k8s_apiserver,
    k8s_cronjob,
    k8s_node,
    k8s_resource,
    k8s_workload,
)
from probes.base import CENTRAL, CheckBase
from probes.kube import ApiError, ClusterClient, KubeClients
from probes.kube_objects import ALL_NAMESPACES, list_objects, list_path, resolve_resource

if TYPE_CHECKING:
    from monitor.ports import ConfigSource

__all__ = ["ClusterDiscovery", "cronjob_checks", "resource_checks", "workload_checks"]

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between looks at the config for clusters that are due, new or gone
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
            check = k8s_cronjob.Check(**common_settings(cluster, "jobs", f"{namespace}.{name}"), cluster=kube,
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
            common = common_settings(cluster, "workloads", f"{namespace}.{entry.kind.lower()}.{name}")
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
            check = k8s_resource.Check(**common_settings(cluster, "resources", check_name(label)), cluster=kube,
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
        # a cluster at an agent's location is discovered by that agent (monitor.remote.discovered)
        clusters = {c.name: c for c in self._current().clusters if c.location in (None, CENTRAL)}
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
