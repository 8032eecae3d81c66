"""Harbor's component health (`GET /api/v2.0/health`, always HTTP 200, the verdict in the body)
read into findings for the registry probe's `flavor: harbor`, and its replication policies and
executions read for the registry_sync probe. Parsing and judging only; no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from probes.base import Status

__all__ = ["CRITICAL_COMPONENTS", "Execution", "health_findings", "parse_executions", "pick_policy"]

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


# --- replication (goharbor/harbor api/v2.0/swagger.yaml: ReplicationPolicy, ReplicationExecution) ---

SKIPPED_PREFIX = "Execution skipped"
"""Harbor (2.14+, `single_active_replication`) records a run it skips because the previous one is
still going as a `Failed` execution with this status text: not a failure of the replication."""


@dataclass(frozen=True, slots=True)
class Execution:
    """One replication execution as Harbor's API shows it. `status` is `Succeed`, `Failed`,
    `InProgress` or `Stopped`; times are unix seconds, None when Harbor has none (a running
    execution's `end_time` is Go's zero time)."""

    id: int | None
    status: str
    start_time: float | None
    end_time: float | None
    status_text: str
    total: int
    failed: int
    succeed: int
    trigger: str

    def details(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "start_time": self.start_time, "end_time": self.end_time,
                "total": self.total, "failed": self.failed, "succeed": self.succeed, "trigger": self.trigger,
                "status_text": self.status_text}


def pick_policy(policies: Any, name: str) -> dict[str, Any] | None:
    """The policy named exactly `name` from a `GET /replication/policies?name=` answer (Harbor
    matches that parameter fuzzily: `prod` also finds `prod-sync`)."""
    if not isinstance(policies, list):
        return None
    for policy in policies:
        if isinstance(policy, dict) and policy.get("name") == name and isinstance(policy.get("id"), int):
            return policy
    return None


def parse_executions(executions: Any) -> Execution | str | None:
    """The newest execution Harbor did not skip from a `GET /replication/executions?sort=-start_time`
    page; None when there is none; a string saying what is wrong with an answer of another shape."""
    if not isinstance(executions, list):
        return "GET /api/v2.0/replication/executions: not a list of executions"
    for item in executions:
        if not isinstance(item, dict):
            return "GET /api/v2.0/replication/executions: not a list of executions"
        text = _short(item.get("status_text"))
        if item.get("status") == "Failed" and text.startswith(SKIPPED_PREFIX):
            continue
        return Execution(
            id=item.get("id") if isinstance(item.get("id"), int) else None,
            status=str(item.get("status") or ""),
            start_time=_harbor_time(item.get("start_time")),
            end_time=_harbor_time(item.get("end_time")),
            status_text=text,
            total=_count(item.get("total")),
            failed=_count(item.get("failed")),
            succeed=_count(item.get("succeed")),
            trigger=str(item.get("trigger") or ""),
        )
    return None


def _harbor_time(value: Any) -> float | None:
    """`2026-12-03T10:02:00.000Z` → unix seconds; None for Go's zero time (`0001-01-01T…`) or junk."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.year <= 1 or moment.tzinfo is None:
        return None
    return moment.timestamp()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
