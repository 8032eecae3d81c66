"""The `registry` probe: an image registry as a pulling client sees it (v2 ping, auth challenge and
token flow, canary manifests, optionally a blob), plus Harbor's component health. Says which phase
failed and why, and judges the whole; never pushes, never raises for a failing registry."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from probes import oci
from probes.base import CheckBase, ProbeContext, Result, Status, format_rate, http_url
from probes.harbor import health_findings
from probes.oci_client import BACKSTOP_TIMEOUT_FACTOR, Answer, Finding, Session, rate_limit_reason
from probes.oci_pull import BlobError, BlobPull, download_blob
from probes.tls_client import TlsSettings

__all__ = ["Auth", "Check", "ImageSpec", "probe"]

MIB = 1024 * 1024
TOKEN_CACHE_KEY = "registry.tokens"  # in ProbeContext.cache


class Auth(BaseModel):
    """Credentials: HTTP Basic for htpasswd registries, or sent to the token server (realm)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1)
    password: str = ""


def _image_spec(value: Any) -> Any:
    return {"image": value} if isinstance(value, str) else value


class ImageSpec(BaseModel):
    """A canary image: `name:tag` or `name@digest` on this registry, and optionally the digest
    its manifest must have (a moved tag is then a failure)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str
    digest: str | None = None

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str) -> str:
        oci.parse_image(value)
        return value.strip()

    @field_validator("digest")
    @classmethod
    def _valid_digest(cls, value: str | None) -> str | None:
        return None if value is None else oci.validate_digest(value)

    @property
    def ref(self) -> oci.ImageRef:
        return oci.parse_image(self.image)


class Check(CheckBase):
    """Ping a registry's v2 API, authenticate as it asks, and check that canary images are there."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"auth"})

    kind: Literal["registry"] = "registry"
    url: str
    """Base URL of the registry (`https://registry.example.com`); the API is at `<url>/v2/`."""
    auth: Auth | None = None
    """Optional; anonymous otherwise (a Bearer token flow then asks for an anonymous token)."""
    images: list[Annotated[ImageSpec, BeforeValidator(_image_spec)]] = Field(default_factory=list)
    pull_blob: bool = False
    """Also download one blob of each image (its smallest layer) and verify its digest."""
    max_blob_bytes: int = Field(default=50 * MIB, ge=1, le=1024 * MIB)
    """Largest blob `pull_blob` chooses; a larger download is stopped there and is a failure."""
    flavor: Literal["distribution", "harbor"] = "distribution"
    """`harbor` also reads `/api/v2.0/health` and judges each Harbor component."""
    tls: TlsSettings = Field(default_factory=TlsSettings)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Harbor health (flavor harbor), ping and auth, then each canary's manifest and blob; the
    worst finding is the status and its reason comes first."""
    try:
        client = ctx.clients.http(**cfg.tls.model_dump())
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    session = Session(
        client=client,
        base_url=cfg.url,
        credentials=(cfg.auth.username, cfg.auth.password) if cfg.auth else None,
        scopes=list(dict.fromkeys(oci.pull_scope(spec.ref.name) for spec in cfg.images)),
        request_timeout=cfg.timeout * BACKSTOP_TIMEOUT_FACTOR,
        tokens=ctx.cache.setdefault(TOKEN_CACHE_KEY, oci.TokenCache()),
        client_cert=cfg.tls.cert_file is not None,
    )
    images: list[dict[str, Any]] = []
    pulls: list[BlobPull] = []
    if cfg.flavor == "harbor":
        await _harbor_health(session)
    if await session.ping():
        for spec in cfg.images:
            entry: dict[str, Any] = {"image": spec.image}
            images.append(entry)
            error = await _check_image(session, cfg, spec, entry, pulls)
            if error is not None:
                entry["error"] = error.reason
                session.findings.append(error)
    return _verdict(session, images, pulls)


async def _check_image(
    s: Session, cfg: Check, spec: ImageSpec, entry: dict[str, Any], pulls: list[BlobPull]
) -> Finding | None:
    """The canary's manifest (HEAD, or GET when its blob is to be pulled): present, its digest
    as expected; then its blob when `pull_blob`. Returns what is wrong, if anything."""
    ref, label = spec.ref, spec.image
    method = "GET" if cfg.pull_blob else "HEAD"
    before = s.phases.get("manifest", 0.0)
    try:
        answer = await s.manifest(ref, method)
        if answer.status == 401 and s.authorization is None and not s.auth_tried:
            # /v2/ was open but this repository is not: authenticate as it asks, once.
            if not await s.authenticate(answer):
                why = s.findings.pop() if s.findings else Finding(Status.DOWN, "authentication failed")
                return Finding(why.status, f"{label}: {why.reason}")
            answer = await s.manifest(ref, method)
        if answer.status not in (200, 429) and method == "HEAD":
            # HEAD has no body to say why: ask with GET (after a 429 a second hit would not help).
            answer = await s.manifest(ref, "GET")
        if answer.status == 200 and not answer.body and not answer.headers.get("Docker-Content-Digest"):
            answer = await s.manifest(ref, "GET")  # no digest header: the body tells
    except httpx.HTTPError as exc:
        return Finding(Status.DOWN, f"{label}: manifest: {s.transport_failure(exc)}")
    finally:
        entry["manifest_seconds"] = round(s.phases.get("manifest", 0.0) - before, 6)
    if answer.status != 200:
        if answer.status == 429:
            return Finding(Status.DEGRADED, rate_limit_reason(label, answer))
        return Finding(Status.DOWN, _manifest_failure(label, answer))
    digest, mismatch = _digest(answer)
    entry["digest"], entry["media_type"] = digest, answer.media_type
    if mismatch:
        return Finding(Status.DOWN, f"{label}: manifest body does not match its Docker-Content-Digest {mismatch}")
    expected = spec.digest or (ref.reference if ref.by_digest else None)
    if expected and digest != expected:
        return Finding(Status.DOWN, f"{label}: digest changed: expected {expected}, got {digest}")
    if not cfg.pull_blob:
        return None
    outcome = await _pull(s, cfg, ref, answer, entry)
    if isinstance(outcome, str):
        return Finding(Status.DOWN, f"{label}: {outcome}")
    entry["blob"] = outcome.details()
    pulls.append(outcome)
    return None


def _manifest_failure(label: str, answer: Answer) -> str:
    reason = f"{label}: {answer.errors or f'HTTP {answer.status}'}"
    challenge = next(iter(oci.parse_challenges(answer.headers.get("WWW-Authenticate", ""))), None)
    if answer.status in (401, 403) and challenge is not None and "error" in challenge.params:
        scope = challenge.params.get("scope")
        reason += f" [{challenge.params['error']}" + (f": {scope}]" if scope else "]")
    return reason


def _digest(answer: Answer) -> tuple[str | None, str | None]:
    """(the manifest's digest, the header's digest when the body does not match it)."""
    header = answer.headers.get("Docker-Content-Digest")
    if not answer.body:
        return header, None
    algorithm = header.split(":", 1)[0] if header and oci.hasher_for(header) else "sha256"
    actual = oci.digest_of(answer.body, algorithm)
    if header and actual != header:
        return actual, header
    return actual, None


async def _pull(s: Session, cfg: Check, ref: oci.ImageRef, answer: Answer, entry: dict[str, Any]) -> BlobPull | str:
    """Download the image's smallest layer (through the linux/amd64 manifest of an index);
    the pull, or why it failed."""
    manifest = _json_object(answer.body)
    if manifest is not None and (answer.media_type in oci.INDEX_MEDIA_TYPES or "manifests" in manifest):
        child = oci.choose_platform_manifest(manifest)
        if child is None:
            return "the image index lists no manifest"
        try:
            answer = await s.manifest(oci.ImageRef(ref.name, child.digest), "GET")
        except httpx.HTTPError as exc:
            return f"manifest {child.digest}: {s.transport_failure(exc)}"
        if answer.status != 200:
            return f"manifest {child.digest}: {answer.describe()}"
        entry["platform_manifest"] = child.digest
        manifest = _json_object(answer.body)
    if manifest is None:
        return "the manifest is not a JSON object"
    descriptor = oci.choose_blob(manifest, cfg.max_blob_bytes)
    if descriptor is None:
        return f"no blob of at most max_blob_bytes ({cfg.max_blob_bytes}) in the manifest"
    started = time.perf_counter()
    try:
        return await download_blob(
            s.client,
            s.url(f"/v2/{ref.name}/blobs/{descriptor.digest}"),
            descriptor,
            authorization=s.authorization,
            max_bytes=cfg.max_blob_bytes,
            request_timeout=s.request_timeout,
        )
    except BlobError as exc:
        return f"blob {descriptor.digest}: {exc}"
    except httpx.HTTPError as exc:
        return f"blob {descriptor.digest}: {s.transport_failure(exc)}"
    finally:
        s.timed("blob", started)


async def _harbor_health(s: Session) -> None:
    started = time.perf_counter()
    try:
        answer = await s.fetch("GET", s.url("/api/v2.0/health"), auth=False)
    except httpx.HTTPError as exc:
        s.fail(f"Harbor health: {s.transport_failure(exc)}")
        return
    finally:
        s.timed("health", started)
    summary, findings = health_findings(answer.status, answer.body)
    if summary:
        s.details["harbor"] = summary
    s.findings.extend(Finding(status, reason) for status, reason in findings)


def _verdict(s: Session, images: list[dict[str, Any]], pulls: list[BlobPull]) -> Result:
    details: dict[str, Any] = {**s.details, "phases": s.phases}
    if images:
        details["images"] = images
    rate = None
    if pulls:
        total_bytes, total_seconds = sum(p.size for p in pulls), sum(p.seconds for p in pulls)
        rate = total_bytes / total_seconds if total_seconds > 0 else None
        details["blob_bytes"] = total_bytes
        details["blob_bytes_per_second"] = round(rate, 1) if rate is not None else None
    if not s.findings:
        parts = ["v2 API ok"]
        if details.get("auth") not in (None, "none"):
            parts.append(f"{details['auth']} auth")
        if images:
            parts.append(f"{len(images)} canar{'y' if len(images) == 1 else 'ies'} present")
        if rate is not None:
            parts.append(f"blob {format_rate(rate)}")
        if "harbor" in details:
            parts.append("Harbor healthy")
        return Result(Status.UP, ", ".join(parts), details)
    worst = max(s.findings, key=lambda f: f.status.severity)  # max keeps the first of equals
    others = len(s.findings) - 1
    if others:
        details["problems"] = [f.reason for f in s.findings]
    return Result(worst.status, worst.reason + (f" (+{others} more)" if others else ""), details)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
