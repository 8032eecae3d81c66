"""One kube-apiserver readiness sub-check (`etcd`, `informer-sync`, `poststarthook/…`) as a check
of its own, so history shows which one failed. Reads the shared `/readyz?verbose` answer; asks
`/readyz/<name>` only for a failing one, since only that path gives the real error text."""

from __future__ import annotations

from typing import Literal

from probes.base import CheckBase, ProbeContext, Result, Status
from probes.k8s_apiserver import fetch_health
from probes.kube import ApiError, KubeTarget, client_for, list_ttl

API_REQUESTS = [("get", "/readyz"), ("get", "/readyz/*")]


class Check(CheckBase):
    kind: Literal["k8s_readyz"] = "k8s_readyz"
    cluster: KubeTarget
    check: str
    """The sub-check's name as the apiserver spells it (`etcd`, `poststarthook/start-…`)."""


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        health = await fetch_health(client, "readyz", request_timeout=cfg.timeout, ttl=list_ttl(cfg.interval))
    except ApiError as exc:
        return exc.dependent_result()
    outcome = health.checks.get(cfg.check)
    if outcome is None:
        return Result(Status.UNKNOWN, f"the apiserver no longer reports {cfg.check!r}")
    if outcome in ("ok", "excluded"):
        return Result.up(outcome)
    # The verbose list withholds the reason; the sub-check's own path states it.
    reason = outcome
    try:
        response = await client.request(f"/readyz/{cfg.check}", request_timeout=cfg.timeout, accept_statuses=(200, 500))
        if response.status_code == 500 and response.text.strip():
            reason = f"failed: {response.text.strip()[:300]}"
    except ApiError:
        pass  # keep "failed: reason withheld": the verbose answer already said it failed
    return Result.down(reason)
