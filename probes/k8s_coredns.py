"""The cluster DNS pods (CoreDNS, label `k8s-app=kube-dns` in kube-system): up when all are Ready,
degraded when some are, down when none are. The real query is kind `k8s_dns`."""

from __future__ import annotations

from typing import Any, Literal

from probes.base import CheckBase, ProbeContext, Result
from probes.kube import ApiError, KubeTarget, client_for

API_REQUESTS = [("list", "/api/v1/namespaces/kube-system/pods")]


class Check(CheckBase):
    kind: Literal["k8s_coredns"] = "k8s_coredns"
    cluster: KubeTarget
    namespace: str = "kube-system"
    selector: str = "k8s-app=kube-dns"


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        body = await client.get_json(f"/api/v1/namespaces/{cfg.namespace}/pods",
                                     params={"labelSelector": cfg.selector}, request_timeout=cfg.timeout)
    except ApiError as exc:
        return exc.dependent_result()
    pods = body.get("items") or []
    not_ready = sorted(p["metadata"]["name"] for p in pods if not _ready(p))
    details = {"pods": len(pods), "ready": len(pods) - len(not_ready), "not_ready": not_ready}
    if not pods:
        return Result.down(f"no DNS pods ({cfg.selector}) in {cfg.namespace}", **details)
    if len(not_ready) == len(pods):
        return Result.down(f"no DNS pod ready (0/{len(pods)})", **details)
    if not_ready:
        return Result.degraded(f"{details['ready']}/{len(pods)} DNS pods ready; not ready: "
                               + ", ".join(not_ready[:5]), **details)
    return Result.up(f"{len(pods)}/{len(pods)} DNS pods ready", **details)
