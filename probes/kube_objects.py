"""What the per-object Kubernetes checks share (CronJobs, workloads, resources judged by their
conditions): API paths, the one LIST of a kind per namespace per cluster per interval that
discovery and every check of that kind read, label selectors and short ages. No judging here."""

from __future__ import annotations

import time
from typing import Any

from probes.kube import ApiError, ClusterClient

__all__ = [
    "ALL_NAMESPACES",
    "api_base",
    "conditions",
    "find",
    "human_age",
    "list_objects",
    "list_path",
    "object_ttl",
    "resolve_resource",
    "selector_of",
]

ALL_NAMESPACES = "*"
"""A `namespace:` that means every namespace: the cluster-wide LIST path."""
DISCOVERY_TTL = 600.0  # seconds: a group/version's kind → resource names change only with CRD installs


def api_base(api_version: str) -> str:
    """`v1` → `/api/v1` (the core group); `apps/v1` → `/apis/apps/v1`."""
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def list_path(api_version: str, plural: str, namespace: str | None) -> str:
    """The LIST path of a resource in one namespace, across all (`*`) or cluster-scoped (None)."""
    if namespace is None or namespace == ALL_NAMESPACES:
        return f"{api_base(api_version)}/{plural}"
    return f"{api_base(api_version)}/namespaces/{namespace}/{plural}"


def object_ttl(interval: float) -> float:
    """How long a shared LIST stays fresh: just under the checks' interval, so discovery and the
    checks of one kind spread over an interval make about one LIST per interval between them."""
    return max(0.5, interval * 0.9)


async def list_objects(client: ClusterClient, path: str, *, selector: str | None, interval: float,
                       request_timeout: float) -> list[dict[str, Any]]:
    """The objects at `path` (optionally narrowed by a label selector), shared for `object_ttl`."""
    params = {"labelSelector": selector} if selector else None
    return await client.list_items(path, ttl=object_ttl(interval), request_timeout=request_timeout, params=params)


def find(objects: list[dict[str, Any]], namespace: str | None, name: str) -> dict[str, Any] | None:
    """The object named `name` (in `namespace`, unless cluster-scoped) of a LIST, if present."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    return None


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`status.conditions` by type."""
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}


def selector_of(label_selector: dict[str, Any] | None) -> str | None:
    """A LabelSelector (`spec.selector` of a workload) → the `labelSelector` query that lists its
    Pods: matchLabels as `k=v`, matchExpressions as the set-based form. None for an empty one."""
    if not label_selector:
        return None
    parts = [f"{k}={v}" for k, v in sorted((label_selector.get("matchLabels") or {}).items())]
    for expr in label_selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        elif op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(parts) or None


def human_age(seconds: float) -> str:
    """Seconds → a short age for reasons: `45s`, `12m`, `3h5m`, `2d3h`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


async def resolve_resource(client: ClusterClient, api_version: str, kind: str, *,
                           request_timeout: float) -> tuple[str, bool] | None:
    """A kind's resource name and whether it is namespaced, from the group/version's discovery
    document (`/apis/<group>/<version>`), None when the kind is not served (CRD not installed).
    Answers are kept DISCOVERY_TTL (a missing group a tenth of it); errors are not kept."""
    memory: dict[str, tuple[float, dict[str, Any]]] = client.memory.setdefault("discovery", {})
    held = memory.get(api_version)
    if held is None or now() > held[0]:
        try:
            body = await client.get_json(api_base(api_version), request_timeout=request_timeout)
            ttl = DISCOVERY_TTL
        except ApiError as exc:
            if exc.status != 404:
                raise
            body, ttl = {}, DISCOVERY_TTL / 10
        held = memory[api_version] = (now() + ttl, body if isinstance(body, dict) else {})
    for resource in held[1].get("resources") or []:
        if resource.get("kind") == kind and "/" not in resource.get("name", "/"):
            return resource["name"], bool(resource.get("namespaced"))
    return None


def now() -> float:
    """Our clock (unix seconds); one place, so a later clock seam has one spot to replace."""
    return time.time()
