"""One object of any resource, custom resources included (a CloudNativePG Cluster, a cert-manager
Certificate ...), judged by its `status.conditions`: the named conditions at their expected status
is up, any other is down with the condition's reason and message, a stale observedGeneration is
degraded. Read from one shared LIST of its kind per namespace (or cluster) per interval."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from probes.base import CheckBase, ProbeContext, Result
from probes.kube import ApiError, KubeTarget, client_for
from probes.kube_objects import conditions, find, list_objects, list_path

# The resources are the user's: each needs its own rule (deploy/kubernetes/rbac-resources-example.yaml).
# `{group}/{version}/{resource}` stand for what the config names; the discovery document is public.
API_REQUESTS = [
    ("get", "/apis/{group}/{version}"),
    ("list", "/apis/{group}/{version}/namespaces/*/{resource}"), ("list", "/apis/{group}/{version}/{resource}"),
]
ConditionStatus = Literal["True", "False", "Unknown"]


class Check(CheckBase):
    kind: Literal["k8s_resource"] = "k8s_resource"
    cluster: KubeTarget
    api_version: str
    resource_kind: str
    resource: str
    """The kind's resource name (its plural, from the API's discovery document)."""
    namespace: str | None = None
    """The object's namespace; None for a cluster-scoped kind."""
    object: str
    scope: str | None = None
    """The namespace the shared LIST reads (`*`: all; None: cluster-scoped)."""
    selector: str | None = None
    expected: dict[str, ConditionStatus] = Field(default_factory=lambda: {"Ready": "True"})
    """Condition type → the status it must have (`True`, `False` or `Unknown`)."""


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        objects = await list_objects(client, list_path(cfg.api_version, cfg.resource, cfg.scope),
                                     selector=cfg.selector, interval=cfg.interval, request_timeout=cfg.timeout)
    except ApiError as exc:
        return exc.dependent_result()
    where = f"{cfg.namespace}/{cfg.object}" if cfg.namespace else cfg.object
    obj = find(objects, cfg.namespace, cfg.object)
    if obj is None:
        return Result.down(f"{cfg.resource_kind} {where} not found (deleted?)")
    return judge(obj, cfg.expected)


def judge(obj: dict[str, Any], expected: dict[str, str]) -> Result:
    """The object's state from its conditions against `expected`."""
    conds = conditions(obj)
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = (obj.get("status") or {}).get("observedGeneration")
    details: dict[str, Any] = {
        "conditions": {t: {k: c.get(k) for k in ("status", "reason", "message") if c.get(k) is not None}
                       for t, c in conds.items()},
        "generation": generation or None, "observed_generation": observed,
    }
    bad: list[str] = []
    stale: list[str] = []
    for kind, want in expected.items():
        cond = conds.get(kind)
        if cond is None:
            bad.append(f"condition {kind} not reported")
            continue
        if cond.get("status") != want:
            text = f"{kind}={cond.get('status')}"
            reason, message = cond.get("reason"), (cond.get("message") or "")[:300]
            if reason or message:
                text += ": " + ": ".join(x for x in (reason, message) if x)
            bad.append(text)
        elif generation and cond.get("observedGeneration") is not None and int(cond["observedGeneration"]) < generation:
            stale.append(f"condition {kind} observedGeneration {cond['observedGeneration']} < generation {generation}")
    if bad:
        return Result.down("; ".join(bad), **details)
    if generation and observed is not None and int(observed) < generation:
        stale.insert(0, f"status.observedGeneration {observed} < metadata.generation {generation}")
    if stale:
        return Result.degraded("stale: " + "; ".join(stale), **details)
    return Result.up(", ".join(f"{k}={v}" for k, v in expected.items()), **details)
