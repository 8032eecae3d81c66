"""The `registry_sync` probe: whether images promoted from a source registry (dev/test) reached the
target registry (production): each listed tag's manifest digest on both sides, how long the target
has been behind, and optionally the last run of a Harbor replication policy. Reads only: never
pushes, never starts a replication, never raises for a failing registry."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from probes import oci
from probes.base import CheckBase, Duration, ProbeContext, Result, Status, format_duration, http_url
from probes.harbor import Execution, parse_executions, pick_policy
from probes.oci_client import BACKSTOP_TIMEOUT_FACTOR, Finding, Session, basic_authorization, rate_limit_reason
from probes.registry import TOKEN_CACHE_KEY, Auth
from probes.tls_client import TlsSettings

__all__ = ["Check", "Side", "probe"]

LAG_CACHE_KEY = "registry_sync.behind"  # in ProbeContext.cache: {check id: {image: (since, target digest)}}
MAX_HARBOR_BYTES = 1024 * 1024  # of a Harbor API answer: a page of policies or executions
HARBOR_EXECUTIONS_PAGE = 10  # executions read per run: the newest that Harbor did not skip is judged
SHORT_DIGEST_HEX = 12  # hex digits shown of a digest in a reason (as `docker images` shows ids)


class Side(BaseModel):
    """One registry of the pair: where it is, how to log in, how to trust it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    """Base URL of the registry (`https://reg.prod.example.com`); the API is at `<url>/v2/`."""
    auth: Auth | None = None
    """HTTP Basic for htpasswd registries, or sent to the token server; anonymous otherwise."""
    tls: TlsSettings = Field(default_factory=TlsSettings)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")


def _tagged_image(value: str) -> str:
    ref = oci.parse_image(value)
    if ref.by_digest:
        raise ValueError(f"{value!r}: name a tag (name:tag); a digest never moves, so there is nothing to sync")
    if ":" not in value.strip().rsplit("/", 1)[-1]:
        raise ValueError(f"{value!r}: name the tag that must match (name:tag)")
    return value.strip()


TaggedImage = Annotated[str, AfterValidator(_tagged_image)]


class Check(CheckBase):
    """Compare tags' manifest digests between a source and a target registry."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"source.auth", "target.auth"})

    kind: Literal["registry_sync"] = "registry_sync"
    source: Side
    target: Side
    images: list[TaggedImage] = Field(min_length=1)
    """Repository paths with the tag that must resolve to the same manifest on both sides."""
    max_lag: Annotated[Duration, Field(gt=0)] = 1800.0
    """How long the target may stay behind the source (degraded meanwhile) before it is down."""
    harbor_policy: str | None = Field(default=None, min_length=1)
    """Name of a Harbor replication policy whose last execution must have succeeded."""
    harbor_on: Literal["source", "target"] = "target"
    """Which side's Harbor holds the policy (pull-mode policies live on the target, push-mode ones
    on the source); its credentials are sent to Harbor's API with HTTP Basic."""
    max_age: Annotated[Duration, Field(gt=0)] | None = None
    """How old the policy's last successful execution may be; required with `harbor_policy`."""

    @field_validator("images")
    @classmethod
    def _listed_once(cls, images: list[str]) -> list[str]:
        twice = sorted({image for image in images if images.count(image) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return images

    @model_validator(mode="after")
    def _consistent(self) -> Check:
        if self.source.url == self.target.url:
            raise ValueError(f"source and target are the same registry ({self.source.url})")
        if self.harbor_policy is not None and self.max_age is None:
            raise ValueError("harbor_policy needs max_age: how old its last successful execution may be")
        if self.harbor_policy is None and self.max_age is not None:
            raise ValueError("max_age applies to harbor_policy, which is not set")
        return self


@dataclass(slots=True)
class _Read:
    """What one run learnt from one side: each image's digest (None: the tag is not there;
    absent: it could not be read), what went wrong, and the session's own details."""

    digests: dict[str, str | None] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Read both sides (and Harbor's policy) at once, then compare digest by digest; the worst
    finding is the status and its reason comes first."""
    now = time.time()
    tasks = [_read_side("source", cfg.source, cfg, ctx), _read_side("target", cfg.target, cfg, ctx)]
    if cfg.harbor_policy is not None:
        tasks.append(_read_harbor(cfg, ctx, now))
    source, target, *harbor = await asyncio.gather(*tasks)
    findings = [*source.findings, *target.findings]
    images = _compare(cfg, ctx, source, target, now, findings)
    details: dict[str, Any] = {
        "images": images,
        "source": source.details,
        "target": target.details,
        "phases": {"source": source.seconds, "target": target.seconds},
    }
    summary = [f"{len(images)} image{'' if len(images) == 1 else 's'} in sync"]
    if harbor:
        findings += harbor[0].findings
        details["harbor"] = harbor[0].details
        details["phases"]["harbor"] = harbor[0].seconds
        if "summary" in harbor[0].details:
            summary.append(harbor[0].details["summary"])
    if not findings:
        return Result(Status.UP, ", ".join(summary), details)
    worst = max(findings, key=lambda f: f.status.severity)  # max keeps the first of equals
    others = len(findings) - 1
    if others:
        details["problems"] = [f.reason for f in findings]
    return Result(worst.status, worst.reason + (f" (+{others} more)" if others else ""), details)


# --- the two registries ---------------------------------------------------------------------------


async def _read_side(label: str, side: Side, cfg: Check, ctx: ProbeContext) -> _Read:
    """Ping and authenticate as the registry asks (the registry probe's Session), then each
    image's manifest digest. Every finding is prefixed with the side's name."""
    read = _Read()
    started = time.perf_counter()
    try:
        client = ctx.clients.http(**side.tls.model_dump())
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        read.findings.append(Finding(Status.DOWN, f"{label}: TLS settings: {exc}"))
        return read
    refs = {image: oci.parse_image(image) for image in cfg.images}
    session = Session(
        client=client,
        base_url=side.url,
        credentials=(side.auth.username, side.auth.password) if side.auth else None,
        scopes=list(dict.fromkeys(oci.pull_scope(ref.name) for ref in refs.values())),
        request_timeout=cfg.timeout * BACKSTOP_TIMEOUT_FACTOR,
        tokens=ctx.cache.setdefault(TOKEN_CACHE_KEY, oci.TokenCache()),
        client_cert=side.tls.cert_file is not None,
    )
    if await session.ping():
        for image, ref in refs.items():
            outcome = await _resolve(session, ref, image)
            if isinstance(outcome, Finding):
                session.findings.append(outcome)
            else:
                read.digests[image] = outcome
    read.findings = [Finding(f.status, f"{label}: {f.reason}") for f in session.findings]
    read.details = {**session.details, "phases": session.phases}
    read.seconds = round(time.perf_counter() - started, 6)
    return read


async def _resolve(s: Session, ref: oci.ImageRef, label: str) -> str | Finding | None:
    """The tag's manifest digest (HEAD; a GET when the HEAD says nothing), None when the registry
    has no such tag or repository, or what went wrong."""
    try:
        answer = await s.manifest(ref, "HEAD")
        if answer.status == 401 and s.authorization is None and not s.auth_tried:
            # /v2/ was open but this repository is not: authenticate as it asks, once.
            if not await s.authenticate(answer):
                why = s.findings.pop() if s.findings else Finding(Status.DOWN, "authentication failed")
                return Finding(why.status, f"{label}: {why.reason}")
            answer = await s.manifest(ref, "HEAD")
        if answer.status != 429 and (answer.status != 200 or not answer.headers.get("Docker-Content-Digest")):
            answer = await s.manifest(ref, "GET")  # the error body says why; the body gives the digest
    except httpx.HTTPError as exc:
        return Finding(Status.DOWN, f"{label}: manifest: {s.transport_failure(exc)}")
    if answer.status == 200:
        return answer.headers.get("Docker-Content-Digest") or oci.digest_of(answer.body)
    if answer.status == 404:  # MANIFEST_UNKNOWN, or NAME_UNKNOWN for a repository never pushed
        return None
    if answer.status == 429:
        return Finding(Status.DEGRADED, rate_limit_reason(label, answer))
    return Finding(Status.DOWN, f"{label}: {answer.errors or f'HTTP {answer.status}'}")


def _compare(
    cfg: Check, ctx: ProbeContext, source: _Read, target: _Read, now: float, findings: list[Finding]
) -> list[dict[str, Any]]:
    """Each image's entry for the details; a mismatch adds a finding. The lag clock of an image
    starts when its mismatch is first seen, restarts when the target's digest changes (the
    replication delivered something) and is cleared when both sides match. It lives in the
    process: a restart restarts it."""
    clocks: dict[str, tuple[float, str | None]] = ctx.cache.setdefault(LAG_CACHE_KEY, {}).setdefault(cfg.id, {})
    for image in [image for image in clocks if image not in cfg.images]:
        del clocks[image]  # no longer listed
    entries = []
    for image in cfg.images:
        src, dst = source.digests.get(image, ""), target.digests.get(image, "")
        entry: dict[str, Any] = {"image": image, "source_digest": src or None, "target_digest": dst or None,
                                 "in_sync": None, "behind_since": None}
        entries.append(entry)
        if src is None:
            findings.append(Finding(Status.DOWN, f"{image}: not in the source registry"))
            continue
        if src == "" or dst == "":
            continue  # a side could not be read: its finding says why; the clock stands still
        entry["in_sync"] = src == dst
        if src == dst:
            clocks.pop(image, None)
            continue
        since, seen_target = clocks.get(image, (now, dst))
        if seen_target != dst:
            since = now
        clocks[image] = (since, dst)
        entry["behind_since"] = since
        # a listed tag absent from the target is down at once: a deploy there would not pull at all
        status = Status.DOWN if dst is None or now - since > cfg.max_lag else Status.DEGRADED
        if dst is None:
            reason = f"{image}: missing in the target (source {_short(src)}) since {_clock(since, now)}"
        else:
            reason = f"{image}: target has {_short(dst)}, source {_short(src)} since {_clock(since, now)}"
        findings.append(Finding(status, reason))
    return entries


def _short(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:SHORT_DIGEST_HEX]}…" if len(hexpart) > SHORT_DIGEST_HEX else digest


def _clock(at: float, now: float) -> str:
    """`10:02 UTC` today, `2026-12-01 10:02 UTC` on another day."""
    moment = datetime.fromtimestamp(at, UTC)
    same_day = moment.date() == datetime.fromtimestamp(now, UTC).date()
    return moment.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


# --- Harbor's replication policy ------------------------------------------------------------------


async def _read_harbor(cfg: Check, ctx: ProbeContext, now: float) -> _Read:
    """The policy by name (`GET /api/v2.0/replication/policies?name=`, a fuzzy match there, so
    the exact name is picked here), then its newest executions; the newest one Harbor did not
    skip is judged against `max_age`."""
    name, side = cfg.harbor_policy or "", cfg.source if cfg.harbor_on == "source" else cfg.target
    what = f"replication policy {name}"
    read = _Read(details={"policy": name, "on": cfg.harbor_on})
    started = time.perf_counter()
    try:
        client = ctx.clients.http(**side.tls.model_dump())
    except (OSError, ValueError) as exc:
        read.findings.append(Finding(Status.DOWN, f"{what}: TLS settings: {exc}"))
        return read
    session = Session(client=client, base_url=side.url, credentials=None, scopes=[],
                      request_timeout=cfg.timeout * BACKSTOP_TIMEOUT_FACTOR, tokens=oci.TokenCache(),
                      client_cert=side.tls.cert_file is not None)
    headers = {"Accept": "application/json"}
    if side.auth is not None:
        headers["Authorization"] = basic_authorization(side.auth.username, side.auth.password)
    try:
        policies = await _harbor_get(session, "/api/v2.0/replication/policies",
                                     {"name": name, "page_size": "100"}, headers)
        policy = pick_policy(policies, name)
        if policy is None:
            read.findings.append(Finding(Status.DOWN, f"{what}: no such policy on {side.url}"))
            return read
        read.details["policy_id"] = policy["id"]
        if policy.get("enabled") is False:
            read.findings.append(Finding(Status.DEGRADED, f"{what}: the policy is disabled"))
        executions = await _harbor_get(session, "/api/v2.0/replication/executions", {
            "policy_id": str(policy["id"]), "page": "1", "page_size": str(HARBOR_EXECUTIONS_PAGE),
            "sort": "-start_time"}, headers)
        execution = parse_executions(executions)
    except _HarborError as exc:
        read.findings.append(Finding(Status.DOWN, f"{what}: {exc}"))
        return read
    finally:
        read.seconds = round(time.perf_counter() - started, 6)
    _judge_execution(read, what, execution, now, cfg.max_age or 0.0)
    return read


class _HarborError(Exception):
    """Harbor's API did not answer what was asked; the message is the reason's tail."""


async def _harbor_get(s: Session, path: str, params: dict[str, str], headers: dict[str, str]) -> Any:
    url = httpx.URL(s.url(path)).copy_merge_params(params)
    try:
        answer = await s.fetch("GET", str(url), headers=headers, auth=False, cap=MAX_HARBOR_BYTES)
    except httpx.HTTPError as exc:
        raise _HarborError(f"GET {path}: {s.transport_failure(exc)}") from None
    if answer.status == 404:
        raise _HarborError(f"GET {path}: HTTP 404: not Harbor's API (is {s.base_url} a Harbor?)")
    if answer.status != 200:
        raise _HarborError(f"GET {path}: {answer.describe()}")
    try:
        return json.loads(answer.body)
    except ValueError:
        raise _HarborError(f"GET {path}: not JSON") from None


def _judge_execution(read: _Read, what: str, execution: Execution | str | None, now: float, max_age: float) -> None:
    """Up only when the newest execution succeeded within `max_age`, or is running for less."""
    if isinstance(execution, str):
        read.findings.append(Finding(Status.DOWN, f"{what}: {execution}"))
        return
    if execution is None:
        read.findings.append(Finding(Status.DOWN, f"{what}: no execution yet"))
        return
    read.details["execution"] = execution.details()
    limit = format_duration(max_age)
    if execution.status == "Succeed":
        at = execution.end_time or execution.start_time or 0.0
        when = _clock(at, now)
        if now - at > max_age:
            read.findings.append(Finding(Status.DOWN, f"{what}: last execution succeeded at {when}, "
                                                      f"longer ago than max_age {limit}"))
        else:
            read.details["summary"] = f"{what}: last execution succeeded at {when}"
    elif execution.status in ("Failed", "Stopped"):
        at = _clock(execution.end_time or execution.start_time or 0.0, now)
        if execution.status == "Failed":
            reason = f"{what}: last execution failed at {at} ({execution.failed} of {execution.total} failed)"
        else:
            reason = f"{what}: last execution stopped at {at} ({execution.succeed} of {execution.total} done)"
        text = f": {execution.status_text}" if execution.status_text else ""
        read.findings.append(Finding(Status.DOWN, reason + text))
    else:  # InProgress (or a state this Harbor names otherwise): not finished yet
        at = execution.start_time or now
        when = _clock(at, now)
        done = f"({execution.succeed} of {execution.total} done)"
        if now - at > max_age:
            read.findings.append(Finding(Status.DEGRADED, f"{what}: execution in progress since {when}, "
                                                          f"longer than max_age {limit} {done}"))
        else:
            read.details["summary"] = f"{what}: execution in progress since {when} {done}"
