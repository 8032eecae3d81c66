"""The `node_exporter` probe: scrape a node exporter's /metrics (outside Kubernetes too) and judge
filesystem free space, available memory and load per CPU against warn/critical levels. Reads the
few metric families it needs (prometheus_client's text parser); never stores the scrape."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field, model_validator

from probes.base import CheckBase, HttpUrl, ProbeContext, Regex, Result, Status
from probes.clients import request_url
from probes.http_expect import failure_reason, read_body
from probes.tls_client import TlsSettings

__all__ = ["Check", "FilesystemLevels", "LoadLevels", "MemoryLevels", "judge", "parse", "probe"]

MIB = 1024 * 1024
# httpx's own timeout is a backstop: the runner's timeout fires first.
_BACKSTOP_TIMEOUT_FACTOR = 2
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the classic text format
# Pseudo and in-memory filesystems whose "free space" says nothing about the node's disks. The
# exporter already leaves out proc, sysfs, cgroup, overlay ... by default; tmpfs it keeps.
DEFAULT_EXCLUDED_FSTYPES = (
    "tmpfs", "devtmpfs", "ramfs", "overlay", "aufs", "squashfs", "iso9660", "nsfs", "autofs", "fuse.lxcfs",
)
_WANTED = frozenset({
    "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_filesystem_device_error",
    "node_filesystem_readonly", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "node_load1", "node_load5", "node_load15", "node_cpu_seconds_total",
})

Percent = float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LowIsBad(_Model):
    warn: Percent | None = Field(default=10.0, ge=0, le=100)
    critical: Percent | None = Field(default=5.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> _LowIsBad:
        if self.warn is not None and self.critical is not None and self.warn < self.critical:
            raise ValueError("warn must not be below critical (both are percentages left)")
        return self


class FilesystemLevels(_LowIsBad):
    """Free space (% of size, as `df` counts it for unprivileged users) of each filesystem kept by
    the filters: below `warn` degraded, below `critical` down. Defaults: node-mixin's
    NodeFilesystemAlmostOutOfSpace (5 %/3 %) a little earlier, since one scrape has no trend."""

    fstypes_exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED_FSTYPES))
    fstypes_include: list[str] = Field(default_factory=list)
    """When not empty, only these filesystem types."""
    mountpoints_include: Regex | None = None
    """Only mount points matching this regular expression (whole path)."""
    mountpoints_exclude: Regex | None = None
    """Leave out mount points matching this regular expression (whole path)."""


class MemoryLevels(_LowIsBad):
    """MemAvailable as % of MemTotal: below `warn` degraded, below `critical` down (node-mixin's
    NodeMemoryHighUtilization warns above 90 % used)."""


class LoadLevels(_Model):
    """Load average per CPU (CPUs counted from node_cpu_seconds_total{mode="idle"}): above `warn`
    degraded, above `critical` down. node-mixin's NodeSystemSaturation warns above 2 per CPU."""

    metric: Literal["load1", "load5", "load15"] = "load5"
    """load5 by default: one scrape of load1 is too jumpy to page on."""
    warn: float | None = Field(default=2.0, ge=0)
    critical: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LoadLevels:
        if self.warn is not None and self.critical is not None and self.warn > self.critical:
            raise ValueError("warn must not be above critical")
        return self


class Check(CheckBase):
    """Scrape a node exporter and judge disk, memory and load."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"headers"})

    kind: Literal["node_exporter"] = "node_exporter"
    url: HttpUrl
    """The exporter's metrics URL, e.g. http://node1:9100/metrics."""
    headers: dict[str, str] = Field(default_factory=dict)
    """E.g. an Authorization header for an exporter behind kube-rbac-proxy."""
    tls: TlsSettings = Field(default_factory=TlsSettings)
    max_body_bytes: int = Field(default=16 * MIB, ge=1024, le=256 * MIB)
    """A larger answer is a failure: judging part of it could miss a full disk."""
    filesystem: FilesystemLevels | None = Field(default_factory=FilesystemLevels)
    memory: MemoryLevels | None = Field(default_factory=MemoryLevels)
    load: LoadLevels | None = Field(default_factory=LoadLevels)



@dataclass(slots=True)
class NodeFacts:
    """What one scrape says about the node."""

    filesystems: list[dict[str, Any]]
    memory_available: float | None
    memory_total: float | None
    load: dict[str, float]
    cpus: int


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Scrape, parse the families needed, judge. details: filesystems, memory, load, phases."""
    try:
        client = ctx.clients.http(**cfg.tls.model_dump())
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    started = time.perf_counter()
    headers = {"Accept": _ACCEPT, **cfg.headers}
    request = client.build_request(
        "GET", request_url(cfg.url, headers), headers=headers, timeout=cfg.timeout * _BACKSTOP_TIMEOUT_FACTOR
    )
    try:
        response = await client.send(request, stream=True)
        try:
            body, truncated = await read_body(response, cfg.max_body_bytes)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        return Result.down(failure_reason(exc))
    scraped = time.perf_counter()
    phases = {"scrape": round(scraped - started, 6)}
    if response.status_code != 200:
        return Result.down(f"HTTP {response.status_code} (expected 200)", phases=phases)
    if truncated:
        return Result.down(f"response larger than max_body_bytes ({cfg.max_body_bytes} bytes)", phases=phases)
    try:
        facts = parse(body.decode("utf-8", "replace"))
    except ValueError as exc:
        return Result.down(f"invalid metrics text: {str(exc)[:200]}", phases=phases)
    result = judge(cfg, facts) if facts is not None else Result.down(
        "no node exporter metrics in the response (node_load*, node_memory_*, node_filesystem_*)")
    phases["parse"] = round(time.perf_counter() - scraped, 6)
    result.details["phases"] = phases
    return result


def parse(text: str) -> NodeFacts | None:
    """The facts the thresholds need from exposition text; None if it has none of them. Only
    the wanted families are parsed (a large node's scrape is mostly other metrics)."""
    lines = [line for line in text.splitlines() if line.split("{", 1)[0].split(" ", 1)[0] in _WANTED]
    if not lines:
        return None
    sizes: dict[tuple[str, str, str], dict[str, float]] = {}
    memory: dict[str, float] = {}
    load: dict[str, float] = {}
    cpus: set[str] = set()
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name.startswith("node_filesystem_"):
                key = (labels.get("mountpoint", ""), labels.get("fstype", ""), labels.get("device", ""))
                sizes.setdefault(key, {})[name.removeprefix("node_filesystem_")] = value
            elif name.startswith("node_memory_"):
                memory[name] = value
            elif name.startswith("node_load"):
                load[name.removeprefix("node_")] = value
            elif labels.get("mode") == "idle":
                cpus.add(labels.get("cpu", ""))
    filesystems = [
        {"mountpoint": mountpoint, "fstype": fstype, "device": device, **values}
        for (mountpoint, fstype, device), values in sorted(sizes.items())
    ]
    return NodeFacts(filesystems, memory.get("node_memory_MemAvailable_bytes"),
                     memory.get("node_memory_MemTotal_bytes"), load, len(cpus))


@dataclass(frozen=True, slots=True)
class _Finding:
    status: Status
    text: str


def _low_is_bad(what: str, value: float, levels: _LowIsBad, unit: str) -> _Finding | None:
    shown = f"{what} {value:.1f}% {unit}"
    if levels.critical is not None and value < levels.critical:
        return _Finding(Status.DOWN, f"{shown} (< {levels.critical:g}% critical)")
    if levels.warn is not None and value < levels.warn:
        return _Finding(Status.DEGRADED, f"{shown} (< {levels.warn:g}% warn)")
    return None


def judge(cfg: Check, facts: NodeFacts) -> Result:
    """Down if any critical level is crossed, degraded if any warn level is; the reason lists
    every crossed level, worst first. Missing metrics for a configured threshold → degraded."""
    findings: list[_Finding] = []
    details: dict[str, Any] = {}
    if cfg.filesystem is not None:
        details["filesystems"] = _judge_filesystems(cfg.filesystem, facts, findings)
    if cfg.memory is not None:
        details["memory"] = _judge_memory(cfg.memory, facts, findings)
    if cfg.load is not None:
        details["load"] = _judge_load(cfg.load, facts, findings)
    if not findings:
        return Result(Status.UP, _summary(details), details)
    findings.sort(key=lambda f: -f.status.severity)
    return Result(findings[0].status, "; ".join(f.text for f in findings), details)


def _kept(levels: FilesystemLevels, fs: dict[str, Any]) -> bool:
    if levels.fstypes_include and fs["fstype"] not in levels.fstypes_include:
        return False
    if fs["fstype"] in levels.fstypes_exclude:
        return False
    if levels.mountpoints_include is not None and not levels.mountpoints_include.fullmatch(fs["mountpoint"]):
        return False
    return levels.mountpoints_exclude is None or not levels.mountpoints_exclude.fullmatch(fs["mountpoint"])


def _judge_filesystems(levels: FilesystemLevels, facts: NodeFacts, findings: list[_Finding]) -> list[dict]:
    shown: list[dict[str, Any]] = []
    for fs in facts.filesystems:
        # device_error: the exporter could not stat it (its sizes are absent or stale).
        if not _kept(levels, fs) or fs.get("device_error") == 1 or not fs.get("size_bytes"):
            continue
        free = 100.0 * fs.get("avail_bytes", 0.0) / fs["size_bytes"]
        shown.append({"mountpoint": fs["mountpoint"], "fstype": fs["fstype"], "device": fs["device"],
                      "free_percent": round(free, 2), "avail_bytes": fs.get("avail_bytes"),
                      "size_bytes": fs["size_bytes"], "readonly": fs.get("readonly") == 1})
        finding = _low_is_bad(f"filesystem {fs['mountpoint']}", free, levels, "free")
        if finding:
            findings.append(finding)
    if not facts.filesystems:
        findings.append(_Finding(Status.DEGRADED, "filesystem: node_filesystem_avail_bytes/size_bytes missing"))
    elif not shown:
        findings.append(_Finding(Status.DEGRADED, "filesystem: no filesystem left after the filters"))
    return shown


def _judge_memory(levels: MemoryLevels, facts: NodeFacts, findings: list[_Finding]) -> dict[str, Any]:
    if facts.memory_available is None or not facts.memory_total:
        findings.append(_Finding(Status.DEGRADED, "memory: node_memory_MemAvailable_bytes/MemTotal_bytes missing"))
        return {}
    available = 100.0 * facts.memory_available / facts.memory_total
    finding = _low_is_bad("memory", available, levels, "available")
    if finding:
        findings.append(finding)
    return {"available_percent": round(available, 2), "available_bytes": facts.memory_available,
            "total_bytes": facts.memory_total}


def _judge_load(levels: LoadLevels, facts: NodeFacts, findings: list[_Finding]) -> dict[str, Any]:
    value = facts.load.get(levels.metric)
    if value is None or facts.cpus == 0:
        missing = f"node_{levels.metric}" if value is None else 'node_cpu_seconds_total{mode="idle"}'
        findings.append(_Finding(Status.DEGRADED, f"load: {missing} missing"))
        return dict(facts.load)
    per_cpu = value / facts.cpus
    shown = f"{levels.metric} {per_cpu:.2f} per CPU"
    if levels.critical is not None and per_cpu > levels.critical:
        findings.append(_Finding(Status.DOWN, f"{shown} (> {levels.critical:g} critical)"))
    elif levels.warn is not None and per_cpu > levels.warn:
        findings.append(_Finding(Status.DEGRADED, f"{shown} (> {levels.warn:g} warn)"))
    return {**facts.load, "cpus": facts.cpus, "per_cpu": round(per_cpu, 3), "metric": levels.metric}


def _summary(details: dict[str, Any]) -> str:
    parts = []
    if "filesystems" in details:
        lowest = min(details["filesystems"], key=lambda fs: fs["free_percent"])
        parts.append(f"lowest free {lowest['mountpoint']} {lowest['free_percent']:.1f}%")
    if details.get("memory"):
        parts.append(f"memory {details['memory']['available_percent']:.1f}% available")
    if details.get("load", {}).get("metric"):
        parts.append(f"{details['load']['metric']} {details['load']['per_cpu']:.2f} per CPU")
    return ", ".join(parts) or "scraped"
