"""A Kubernetes component's own health endpoint reached directly (kube-scheduler :10259,
kube-controller-manager :10257, kube-proxy :10256): the status code decides; a verbose
`[-]name failed` list names the failed checks. No cluster credentials are sent."""

from __future__ import annotations

from typing import Literal

import httpx

from probes.base import CheckBase, ProbeContext, Result, os_error_reason
from probes.kube import parse_healthz


class Check(CheckBase):
    kind: Literal["k8s_healthz"] = "k8s_healthz"
    url: str
    verify: bool = False
    """The components serve self-signed certificates by default."""
    ca_file: str | None = None


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = ctx.clients.http(verify=cfg.verify or cfg.ca_file is not None, ca_file=cfg.ca_file)
    try:
        response = await client.get(cfg.url, timeout=cfg.timeout)
    except httpx.TimeoutException:
        return Result.down("timeout")
    except httpx.TransportError as exc:
        return Result.down(os_error_reason(exc) or f"{type(exc).__name__}: {exc}"[:200])
    details = {"http_status": response.status_code}
    if response.status_code == 200:
        return Result.up("ok", **details)
    failed = [n for n, outcome in parse_healthz(response.text).items() if outcome.startswith("failed")]
    if failed:
        return Result.down(f"HTTP {response.status_code}: failed {', '.join(failed)}", failed=failed, **details)
    return Result.down(f"HTTP {response.status_code}", **details)
