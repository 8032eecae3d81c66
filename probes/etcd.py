"""etcd members probed directly: `/health` JSON (`{"health":"true"}`; 503 with RAFT NO LEADER,
ALARM NOSPACE …), `/readyz?verbose` where the release has it, and leader presence from
`/metrics` (`etcd_server_has_leader`). Several endpoints: degraded while a majority is healthy."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Literal

import httpx
from pydantic import Field

from probes.base import CheckBase, ProbeContext, Result, os_error_reason
from probes.kube import parse_healthz

_HAS_LEADER = re.compile(r"^etcd_server_has_leader(?:\{[^}]*\})?\s+(\S+)", re.MULTILINE)


class Check(CheckBase):
    kind: Literal["etcd"] = "etcd"
    secret_fields = frozenset({"key"})

    endpoints: list[str] = Field(min_length=1)
    """Client URLs, e.g. https://10.0.0.10:2379."""
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    metrics: bool = True
    """Also read `etcd_server_has_leader` from /metrics."""


async def _member(client: httpx.AsyncClient, endpoint: str, cfg: Check) -> dict[str, Any]:
    """One endpoint's verdict: {"healthy": bool, "reason": str, ...}."""
    base = endpoint.rstrip("/")
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        response = await client.get(f"{base}/health", timeout=cfg.timeout)
        phases["health"] = time.perf_counter() - t0
        state: dict[str, Any] = {"http_status": response.status_code, "phases": phases}
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or str(body.get("health")) != "true":
            reason = body.get("reason") or await _alarms(client, base, cfg)
            reason = reason or f"unhealthy (HTTP {response.status_code})"
            return {**state, "healthy": False, "reason": reason}
        if failed := await _readyz_failures(client, base, cfg, phases):
            return {**state, "healthy": False, "reason": "readyz failed: " + ", ".join(failed)}
        if cfg.metrics:
            t1 = time.perf_counter()
            metrics = await client.get(f"{base}/metrics", timeout=cfg.timeout)
            phases["metrics"] = time.perf_counter() - t1
            match = _HAS_LEADER.search(metrics.text) if metrics.status_code == 200 else None
            if match is not None:
                state["has_leader"] = float(match.group(1)) == 1.0
                if not state["has_leader"]:
                    return {**state, "healthy": False, "reason": "no leader (etcd_server_has_leader 0)"}
        return {**state, "healthy": True, "reason": "healthy"}
    except httpx.TimeoutException:
        return {"healthy": False, "reason": "timeout", "phases": phases}
    except httpx.TransportError as exc:
        return {"healthy": False, "reason": os_error_reason(exc) or f"{type(exc).__name__}: {exc}"[:200],
                "phases": phases}


async def _alarms(client: httpx.AsyncClient, base: str, cfg: Check) -> str:
    """`ALARM NOSPACE` …, from the member's alarm list: etcd 3.4's /health says only "false"."""
    try:
        response = await client.post(f"{base}/v3/maintenance/alarm", json={"action": "GET"}, timeout=cfg.timeout)
        alarms = sorted({a.get("alarm", "") for a in response.json().get("alarms") or []} - {"", "NONE"})
    except (httpx.HTTPError, ValueError, AttributeError):
        return ""
    return ", ".join(f"ALARM {name}" for name in alarms)


async def _readyz_failures(client: httpx.AsyncClient, base: str, cfg: Check, phases: dict) -> list[str]:
    """Failed `/readyz` checks with their reasons (etcd ≥ 3.5.?; older releases answer 404)."""
    t0 = time.perf_counter()
    response = await client.get(f"{base}/readyz", params={"verbose": ""}, timeout=cfg.timeout)
    phases["readyz"] = time.perf_counter() - t0
    if response.status_code in (200, 404):
        return []
    checks = parse_healthz(response.text)
    return [f"{name} ({outcome})" for name, outcome in checks.items() if outcome.startswith("failed")] or [
        f"HTTP {response.status_code}"
    ]


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = ctx.clients.http(verify=True, ca_file=cfg.ca, cert_file=cfg.cert, key_file=cfg.key)
    states = await asyncio.gather(*(_member(client, e, cfg) for e in cfg.endpoints))
    members = dict(zip(cfg.endpoints, states, strict=True))
    details: dict[str, Any] = {"members": members}
    if len(members) == 1:
        details["phases"] = states[0].get("phases", {})
    bad = {e: s["reason"] for e, s in members.items() if not s["healthy"]}
    if not bad:
        return Result.up(f"{len(members)}/{len(members)} healthy", **details)
    text = "; ".join(f"{e}: {r}" for e, r in bad.items())
    if len(members) > 1 and len(bad) < len(members) / 2:
        return Result.degraded(f"{len(bad)} of {len(members)} unhealthy: {text}", **details)
    if len(members) == 1:
        return Result.down(text, **details)
    return Result.down(f"{len(bad)} of {len(members)} unhealthy (quorum at risk): {text}", **details)
