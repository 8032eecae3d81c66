"""The OCI distribution protocol as the registry probe speaks it: image references, auth challenges
and scopes, error bodies, Retry-After, token responses and their cache, manifest and blob choice.
Pure parsing and bookkeeping: no I/O, no statuses (probes/registry.py judges)."""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "INDEX_MEDIA_TYPES",
    "MANIFEST_ACCEPT",
    "Challenge",
    "Descriptor",
    "ImageRef",
    "RegistryError",
    "Scope",
    "TokenCache",
    "choose_blob",
    "choose_platform_manifest",
    "describe_errors",
    "digest_of",
    "parse_challenges",
    "parse_errors",
    "parse_image",
    "parse_retry_after",
    "parse_scope",
    "parse_token_response",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
# Without an Accept naming these, registries may convert to legacy schema1 (another digest) or
# answer 404 for OCI manifests (distribution 2.8 does both).
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds: token.md says so when `expires_in` is absent
TOKEN_REFRESH_MARGIN = 5.0  # seconds before expiry at which a cached token counts as expired
MAX_CACHED_TOKENS = 1000  # entries; beyond this the cache is emptied of expired ones, then cleared

# distribution-spec: path components, then an optional tag or digest.
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HASHES = {"sha256": 64, "sha512": 128}  # algorithm → hex length, the ones we can verify


@dataclass(frozen=True, slots=True)
class ImageRef:
    """`name` plus a tag or a digest (`reference`), as in `/v2/<name>/manifests/<reference>`."""

    name: str
    reference: str

    @property
    def by_digest(self) -> bool:
        return ":" in self.reference

    def __str__(self) -> str:
        return f"{self.name}{'@' if self.by_digest else ':'}{self.reference}"


def parse_image(text: str) -> ImageRef:
    """`library/busybox:1.36`, `library/busybox@sha256:…` or `library/busybox` (tag `latest`).
    The name is a repository path on the probed registry (no host). Raises ValueError."""
    name, digest, tag = text.strip(), None, None
    if "@" in name:
        name, digest = name.split("@", 1)
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    if not _NAME_RE.match(name):
        raise ValueError(f"{text!r}: {name!r} is not a repository name (lower-case path like library/busybox)")
    if digest is not None:
        validate_digest(digest)
        return ImageRef(name, digest)  # a digest pins the content: a tag beside it is ignored
    if tag is not None and not _TAG_RE.match(tag):
        raise ValueError(f"{text!r}: {tag!r} is not a valid tag")
    return ImageRef(name, tag or "latest")


def validate_digest(digest: str) -> str:
    """`algorithm:hex`, with the hex length checked for sha256/sha512. Raises ValueError."""
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"{digest!r} is not a digest (algorithm:hex, e.g. sha256:…)")
    algorithm, hexpart = digest.split(":", 1)
    if algorithm in _HASHES and not re.fullmatch(f"[a-f0-9]{{{_HASHES[algorithm]}}}", hexpart):
        raise ValueError(f"{digest!r}: a {algorithm} digest has {_HASHES[algorithm]} lower-case hex digits")
    return digest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of `data`."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def hasher_for(digest: str) -> Any | None:
    """A hashlib object for the digest's algorithm, None if we cannot verify that algorithm."""
    algorithm = digest.split(":", 1)[0]
    return hashlib.new(algorithm) if algorithm in _HASHES else None


# --- WWW-Authenticate (RFC 7235 §4.1, RFC 6750 §3) ------------------------------------------------

_TOKEN68 = r"[A-Za-z0-9._~+/-]+=*"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*({_QUOTED}|{_TOKEN})\s*")
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: the scheme in lower case (`basic`, `bearer`) and its parameters (names in
    lower case, values unquoted)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = ",".join(f'{k}="{v}"' for k, v in self.params.items())
        return f"{self.scheme.capitalize()} {shown}".strip()


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a WWW-Authenticate value. Commas separate both challenges and
    parameters, and may appear inside quoted values (`scope="repository:a:pull,push"`)."""
    challenges: list[Challenge] = []
    pos, n = 0, len(header)
    while pos < n:
        while pos < n and header[pos] in " ,\t":
            pos += 1
        match = _SCHEME_RE.match(header, pos)
        if not match:
            break
        scheme, pos = match.group(1).lower(), match.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM_RE.match(header, pos)
            if not param:
                token68 = re.compile(rf"\s*({_TOKEN68})\s*(?:,|$)").match(header, pos)
                if token68 and not params:  # `Negotiate abc==`: one opaque value, no parameters
                    params[""] = token68.group(1)
                    pos = token68.end()
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.setdefault(param.group(1).lower(), value)
            pos = param.end()
            if pos < n and header[pos] == ",":
                nxt = _PARAM_RE.match(header, pos + 1)
                if not nxt:  # the comma ends this challenge: the next one starts with a scheme
                    pos += 1
                    break
                pos += 1
            else:
                break
        challenges.append(Challenge(scheme, params))
    return challenges


# --- scopes (distribution docs/spec/auth/scope.md) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope:
    """`repository:samalba/my-app:pull,push` → Scope. The name may itself hold a `host:port`
    (`repository:localhost:5000/app:pull`), so type and actions are split off at the ends."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        raise ValueError(f"{text!r} is not a scope (type:name:actions)")
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def pull_scope(name: str) -> str:
    return str(Scope("repository", name, ("pull",)))


# --- error bodies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryError:
    code: str
    message: str = ""
    detail: Any = None

    def __str__(self) -> str:
        text = self.code + (f": {self.message}" if self.message else "")
        detail = _short_detail(self.detail)
        return f"{text} ({detail})" if detail else text


_DETAIL_CHARS = 160


def _short_detail(detail: Any) -> str:
    if detail in (None, "", {}, []):
        return ""
    text = detail if isinstance(detail, str) else json.dumps(detail, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def parse_errors(body: bytes) -> list[RegistryError]:
    """The `errors` of a distribution error body (`{"errors":[{"code","message","detail"}]}`);
    [] for anything else. Token servers answer in other shapes: `{"details": "…"}` (Docker Hub),
    `{"error": "…", "error_description": "…"}` (OAuth 2): those become code `TOKEN_ERROR`."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    errors = data.get("errors")
    if isinstance(errors, list):
        found = []
        for item in errors:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                found.append(RegistryError(item["code"], str(item.get("message") or ""), item.get("detail")))
        return found
    message = data.get("details") or data.get("error_description") or data.get("error") or data.get("message")
    if isinstance(message, str) and message:
        return [RegistryError("TOKEN_ERROR", message)]
    return []


def describe_errors(errors: list[RegistryError]) -> str:
    """The errors for a reason: `MANIFEST_UNKNOWN: manifest unknown`; several joined by `; `."""
    return "; ".join(str(e) for e in errors)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds from now: delta-seconds (`120`) or an HTTP-date; None if absent or
    unparsable. A date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, round(when.timestamp() - now(), 3))


# --- tokens (distribution docs/spec/auth/token.md) ------------------------------------------------


def parse_token_response(body: bytes) -> tuple[str, float]:
    """(token, lifetime in seconds) from a token server's JSON answer; `token` and
    `access_token` are equivalent (either may be absent), `expires_in` defaults to 60 s.
    Raises ValueError with what is wrong."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("token response is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("token response is not a JSON object")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("token response has neither `token` nor `access_token`")
    expires_in = data.get("expires_in")
    lifetime = DEFAULT_TOKEN_LIFETIME
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        lifetime = float(expires_in)
    return token, lifetime


@dataclass(slots=True)
class TokenCache:
    """Bearer tokens by (realm, service, scopes, credentials), until shortly before they expire,
    so that a check running every 30 s does not ask the token server each time."""

    clock: Callable[[], float] = time.monotonic
    _tokens: dict[tuple[str, ...], tuple[str, float]] = field(default_factory=dict)

    @staticmethod
    def key(realm: str, service: str, scopes: list[str], username: str | None, password: str | None) -> tuple[str, ...]:
        # The password only as a hash: the key must not keep a second copy of it.
        secret = hashlib.sha256((password or "").encode()).hexdigest() if password else ""
        return (realm, service, " ".join(sorted(scopes)), username or "", secret)

    def get(self, key: tuple[str, ...]) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, expires = entry
        if self.clock() >= expires - TOKEN_REFRESH_MARGIN:
            del self._tokens[key]
            return None
        return token

    def put(self, key: tuple[str, ...], token: str, lifetime: float) -> None:
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            now = self.clock()
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] - TOKEN_REFRESH_MARGIN > now}
            if len(self._tokens) >= MAX_CACHED_TOKENS:
                self._tokens.clear()
        self._tokens[key] = (token, self.clock() + lifetime)

    def drop(self, key: tuple[str, ...]) -> None:
        self._tokens.pop(key, None)


# --- manifests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    role: str  # "layer", "config" or "manifest"


def _descriptor(item: Any, role: str) -> Descriptor | None:
    if not isinstance(item, dict):
        return None
    digest, size = item.get("digest"), item.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    try:
        validate_digest(digest)
    except ValueError:
        return None
    return Descriptor(str(item.get("mediaType") or ""), digest, size, role)


def choose_platform_manifest(index: dict[str, Any]) -> Descriptor | None:
    """From an image index / manifest list: the first linux/amd64 manifest, else the first."""
    entries = [(m, d) for m in index.get("manifests") or [] if (d := _descriptor(m, "manifest"))]
    for raw, descriptor in entries:
        platform = raw.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return descriptor
    return entries[0][1] if entries else None


def choose_blob(manifest: dict[str, Any], max_bytes: int) -> Descriptor | None:
    """The blob to download: the smallest layer no larger than `max_bytes`, else the config blob
    if it fits, else None."""
    layers = [d for item in manifest.get("layers") or [] if (d := _descriptor(item, "layer"))]
    fitting = [d for d in layers if d.size <= max_bytes]
    if fitting:
        return min(fitting, key=lambda d: d.size)
    config = _descriptor(manifest.get("config"), "config")
    if config is not None and config.size <= max_bytes:
        return config
    return None
