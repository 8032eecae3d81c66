"""Harbor's component health (`GET /api/v2.0/health`, always HTTP 200, the verdict in the body)
read into findings for the registry probe's `flavor: harbor`. Parsing and judging only; no I/O."""

from __future__ import annotations

import json
from typing import Any

from probes.base import Status

__all__ = ["CRITICAL_COMPONENTS", "health_findings"]

CRITICAL_COMPONENTS = frozenset({"core", "database", "redis", "registry"})
"""Without these nothing can be pulled or logged into: unhealthy → down. Any other component
(portal, jobservice, registryctl, trivy, chartmuseum, notary, exporter …) → degraded: the UI,
replication, garbage collection or scanning suffer, pulls still work."""
_ERROR_CHARS = 200


def health_findings(status_code: int, body: bytes) -> tuple[dict[str, Any], list[tuple[Status, str]]]:
    """(summary for the details, findings) from the health endpoint's answer. The summary is
    `{"status": "healthy", "components": {"core": "healthy", "database": "unhealthy: …"}}`."""
    if status_code != 200:
        return {}, [(Status.DOWN, f"Harbor health: HTTP {status_code}")]
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("components"), list):
        return {}, [(Status.DOWN, "Harbor health: not Harbor's health JSON (no components list)")]
    components: dict[str, str] = {}
    findings: list[tuple[Status, str]] = []
    for item in data["components"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name, state = item["name"], str(item.get("status") or "unknown")
        error = _short(item.get("error"))
        healthy = state == "healthy" and not error
        components[name] = state if healthy or not error else f"{state}: {error}"
        if not healthy:
            severity = Status.DOWN if name in CRITICAL_COMPONENTS else Status.DEGRADED
            findings.append((severity, f"Harbor {name} {state}" + (f": {error}" if error else "")))
    overall = str(data.get("status") or "unknown")
    if overall != "healthy" and not findings:
        findings.append((Status.DEGRADED, f"Harbor reports {overall} with every component healthy"))
    # Critical components first: they explain the rest (a dead database fails the token service).
    findings.sort(key=lambda f: -f[0].severity)
    return {"status": overall, "components": components}, findings


def _short(value: Any) -> str:
    if value in (None, ""):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"
