"""The kube-system DaemonSets (kube-proxy, the CNI agent, node-local DNS …): desired vs ready pods.
Up when every one is fully ready, degraded when some pods are not, down when one has none ready."""

from __future__ import annotations

from typing import Literal

from probes.base import CheckBase, ProbeContext, Result
from probes.kube import ApiError, KubeTarget, client_for

API_REQUESTS = [("list", "/apis/apps/v1/namespaces/kube-system/daemonsets")]


class Check(CheckBase):
    kind: Literal["k8s_daemonsets"] = "k8s_daemonsets"
    cluster: KubeTarget
    namespace: str = "kube-system"


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        path = f"/apis/apps/v1/namespaces/{cfg.namespace}/daemonsets"
        body = await client.get_json(path, request_timeout=cfg.timeout)
    except ApiError as exc:
        return exc.dependent_result()
    states: dict[str, dict[str, int]] = {}
    for ds in body.get("items") or []:
        status = ds.get("status") or {}
        states[ds["metadata"]["name"]] = {
            "desired": int(status.get("desiredNumberScheduled") or 0),
            "ready": int(status.get("numberReady") or 0),
        }
    short = {name: s for name, s in states.items() if s["ready"] < s["desired"]}
    text = ", ".join(f"{name} {s['ready']}/{s['desired']} ready" for name, s in sorted(short.items()))
    if any(s["ready"] == 0 for s in short.values()):
        return Result.down(text, daemonsets=states)
    if short:
        return Result.degraded(text, daemonsets=states)
    return Result.up(f"{len(states)} DaemonSets ready", daemonsets=states)
