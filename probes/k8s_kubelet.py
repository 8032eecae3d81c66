"""A node's kubelet `/healthz` through the apiserver's node proxy (needs `nodes/proxy`, which opens
the whole kubelet API: see deploy/kubernetes/rbac.yaml). Apiserver trouble is "unknown"."""

from __future__ import annotations

from typing import Literal

from probes.base import CheckBase, ProbeContext, Result
from probes.kube import ApiError, KubeTarget, client_for, status_message

API_REQUESTS = [("get", "/api/v1/nodes/*/proxy/healthz")]


class Check(CheckBase):
    kind: Literal["k8s_kubelet"] = "k8s_kubelet"
    cluster: KubeTarget
    node: str


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        # 5xx here is the proxy's own answer about the kubelet ("error trying to reach service").
        response = await client.request(f"/api/v1/nodes/{cfg.node}/proxy/healthz", request_timeout=cfg.timeout,
                                        accept_statuses=(200, 404, 500, 502, 503, 504))
    except ApiError as exc:
        return exc.dependent_result()
    if response.status_code == 200:
        return Result.up(response.text.strip()[:100] or "ok")
    if response.status_code == 404:
        return Result.down(f"node {cfg.node} not found")
    return Result.down(f"kubelet /healthz HTTP {response.status_code}: {status_message(response)}")
