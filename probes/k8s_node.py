"""One Node, read from the cluster's shared Node and node-Lease lists: `status` judges Ready
(False and Unknown apart), the pressure conditions, NetworkUnavailable and the Lease heartbeat;
`runtime` judges the container runtime from Ready's reason/message and nodeInfo."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from probes.base import CheckBase, Duration, ProbeContext, Result, Status, format_duration
from probes.kube import ApiError, ClusterClient, KubeTarget, age_seconds, client_for, list_ttl

NODES_PATH = "/api/v1/nodes"
NODE_LEASES_PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
API_REQUESTS = [("list", NODES_PATH), ("list", NODE_LEASES_PATH)]

PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")
# What kubelet writes into Ready's message when the CRI runtime is the cause (pkg/kubelet, CRI Status).
RUNTIME_SIGNS = ("container runtime", "PLEG is not healthy", "runtime network not ready", "RuntimeReady")
NODE_LEASE_DURATION = 40.0  # seconds: kubelet's default nodeLeaseDurationSeconds, when a Lease lacks it


class Check(CheckBase):
    kind: Literal["k8s_node"] = "k8s_node"
    cluster: KubeTarget
    node: str
    aspect: Literal["status", "runtime"] = "status"
    skew: Annotated[Duration, Field(ge=0)] = 10.0


async def node_objects(client: ClusterClient, *, interval: float, request_timeout: float) -> list[dict[str, Any]]:
    """Every Node (shared list: one request per cluster per half interval)."""
    return await client.list_items(NODES_PATH, ttl=list_ttl(interval), request_timeout=request_timeout)


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        nodes = await node_objects(client, interval=cfg.interval, request_timeout=cfg.timeout)
    except ApiError as exc:
        return exc.dependent_result()
    node = next((n for n in nodes if (n.get("metadata") or {}).get("name") == cfg.node), None)
    if node is None:
        return Result.down(f"node {cfg.node} not found (deleted?)")
    status = node.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if cfg.aspect == "runtime":
        return _runtime(status, conditions.get("Ready"))
    heartbeat = await _heartbeat(client, cfg)
    return _status(cfg, node, conditions, heartbeat)


def _runtime(status: dict[str, Any], ready: dict[str, Any] | None) -> Result:
    version = (status.get("nodeInfo") or {}).get("containerRuntimeVersion", "")
    details = {"container_runtime_version": version}
    if ready is None:
        return Result(Status.UNKNOWN, "no Ready condition yet", details)
    message = ready.get("message") or ""
    if ready.get("status") == "Unknown":
        return Result(Status.UNKNOWN, f"node not reporting ({ready.get('reason') or 'Ready Unknown'})", details)
    if ready.get("status") != "True" and any(sign in message for sign in RUNTIME_SIGNS):
        return Result.down(f"container runtime: {message[:300]}", **details)
    return Result.up(version or "runtime ok", **details)


async def _heartbeat(client: ClusterClient, cfg: Check) -> dict[str, Any]:
    """The node Lease's renewTime age: kubelet renews it every ~10 s, while the Ready condition's
    lastHeartbeatTime is rewritten only on change or every 5 minutes."""
    try:
        leases = await client.list_items(NODE_LEASES_PATH, ttl=list_ttl(cfg.interval), request_timeout=cfg.timeout)
    except ApiError as exc:
        return {"error": exc.reason}
    lease = next((x for x in leases if (x.get("metadata") or {}).get("name") == cfg.node), None)
    if lease is None:
        return {"error": "no node Lease"}
    spec = lease.get("spec") or {}
    age = age_seconds(spec.get("renewTime"))
    duration = float(spec.get("leaseDurationSeconds") or NODE_LEASE_DURATION)
    return {"age_seconds": None if age is None else round(age, 3), "lease_duration_seconds": duration}


def _status(cfg: Check, node: dict[str, Any], conditions: dict[str, dict], heartbeat: dict[str, Any]) -> Result:
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    details: dict[str, Any] = {
        "conditions": {t: c.get("status") for t, c in conditions.items()},
        "heartbeat": heartbeat,
        "kubelet_version": info.get("kubeletVersion", ""),
        "container_runtime_version": info.get("containerRuntimeVersion", ""),
        "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
    }
    ready = conditions.get("Ready")
    if ready is None:
        return Result(Status.UNKNOWN, "no Ready condition yet", details)
    why = f"{ready.get('reason') or '-'}: {(ready.get('message') or '')[:300]}"
    if ready.get("status") == "Unknown":
        return Result.down(f"Ready Unknown: node stopped reporting ({why})", **details)
    if ready.get("status") != "True":
        return Result.down(f"NotReady ({why})", **details)
    age = heartbeat.get("age_seconds")
    if age is not None and age > heartbeat["lease_duration_seconds"] + cfg.skew:
        return Result.down(f"heartbeat stale: node Lease renewed {format_duration(round(age))} ago", **details)
    network = conditions.get("NetworkUnavailable")
    if network is not None and network.get("status") == "True":
        return Result.down(f"NetworkUnavailable ({network.get('reason') or '-'})", **details)
    pressures = [p for p in PRESSURES if (conditions.get(p) or {}).get("status") == "True"]
    if pressures:
        return Result.degraded(", ".join(pressures), **details)
    return Result.up("Ready" + (" (cordoned)" if details["unschedulable"] else ""), **details)
