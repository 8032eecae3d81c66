"""kube-apiserver `/livez` or `/readyz?verbose`: up on 200, down on 500 naming the failed
sub-checks; 401/403 mean the monitor lacks rights (unknown, "misconfigured"), never "down"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from probes.base import CheckBase, ProbeContext, Result, Status
from probes.kube import ApiError, ClusterClient, KubeTarget, client_for, parse_healthz

# The requests this kind makes (the RBAC test checks deploy/kubernetes/rbac.yaml covers them).
API_REQUESTS = [("get", "/version/"), ("get", "/livez"), ("get", "/readyz")]  # /version/: kr8s, once per client


class Check(CheckBase):
    kind: Literal["k8s_apiserver"] = "k8s_apiserver"
    cluster: KubeTarget
    endpoint: Literal["livez", "readyz"] = "readyz"
    exclude: list[str] = []
    """Sub-checks the apiserver should leave out (`?exclude=`), e.g. a known-broken KMS plugin."""


@dataclass(frozen=True, slots=True)
class Health:
    """One verbose health answer: its HTTP status and its sub-checks (name → ok/excluded/failed: …)."""

    status: int
    checks: dict[str, str]
    body: str

    @property
    def failed(self) -> list[str]:
        return [name for name, outcome in self.checks.items() if outcome.startswith("failed")]


async def fetch_health(client: ClusterClient, endpoint: str, *, request_timeout: float, ttl: float = 0.0,
                       exclude: tuple[str, ...] = ()) -> Health:
    """`/<endpoint>?verbose`, shared through the cluster cache for `ttl` seconds (0: a fresh
    answer, unless one is already on its way). A 500 is an answer (the failure list), not an error."""

    async def fetch() -> Health:
        params: list[tuple[str, str]] = [("verbose", "")] + [("exclude", name) for name in exclude]
        response = await client.request(f"/{endpoint}", params=params, request_timeout=request_timeout,
                                        accept_statuses=(200, 500))
        return Health(response.status_code, parse_healthz(response.text), response.text)

    key = f"health:{endpoint}:" + ",".join(exclude)
    return await client.cached(key, ttl, fetch)


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    try:
        health = await fetch_health(client, cfg.endpoint, request_timeout=cfg.timeout, exclude=tuple(cfg.exclude))
    except ApiError as exc:
        if exc.misconfigured:
            return Result(Status.UNKNOWN, f"misconfigured: {exc.reason}", {"misconfigured": True})
        if exc.kind == "unreachable":
            return Result.down(f"apiserver unreachable: {exc.reason}", apiserver="unreachable")
        return Result.down(exc.reason, http_status=exc.status)
    details = {"http_status": health.status, "checks": health.checks}
    if health.status == 200:
        return Result.up(f"{cfg.endpoint} ok ({len(health.checks)} checks)", **details)
    failed = health.failed
    if not failed:
        return Result.down(f"{cfg.endpoint} HTTP {health.status}", **details)
    return Result.down(f"{cfg.endpoint} failed: {', '.join(failed)}", failed=failed, **details)
