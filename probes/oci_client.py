"""A registry client for one run of the registry probe: requests carrying the run's credentials,
the v2 ping and the auth flow (Basic, or the Bearer token flow with cached tokens), findings and
phase timings. Says what went wrong; the registry probe decides what it means for the status."""

from __future__ import annotations

import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from probes import oci
from probes.base import Status, os_error_reason
from probes.tls_client import response_tls_details, tls_error_reason

__all__ = ["MAX_ERROR_BODY_BYTES", "Answer", "Finding", "Session", "rate_limit_reason", "transport_reason"]

MAX_ERROR_BODY_BYTES = 64 * 1024  # of an error or ping body, read for its JSON
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the OCI spec's recommended limit for manifests
# httpx's own timeouts are a backstop: the runner's timeout fires first and says "timeout after Ns".
BACKSTOP_TIMEOUT_FACTOR = 2


@dataclass(slots=True)
class Finding:
    """Something wrong, with the status it earns; the worst finding sets the result's status."""

    status: Status
    reason: str


@dataclass(slots=True)
class Answer:
    """A response read to its end (or to a cap) and closed."""

    status: int
    headers: httpx.Headers
    body: bytes
    tls: dict[str, Any] = field(default_factory=dict)  # response_tls_details, when asked for

    @property
    def errors(self) -> str:
        """The error body's codes and messages (`MANIFEST_UNKNOWN: manifest unknown`), or ""."""
        return oci.describe_errors(oci.parse_errors(self.body))

    def describe(self) -> str:
        """`HTTP 404 MANIFEST_UNKNOWN: manifest unknown (…)`, or just `HTTP 502`."""
        errors = self.errors
        return f"HTTP {self.status} {errors}" if errors else f"HTTP {self.status}"

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()


@dataclass
class Session:
    """One run's conversation with one registry. `authorization` is what requests to the
    registry carry once `ping` (or `authenticate`) has succeeded; `client_cert` says whether the
    client presents a TLS client certificate (for the reason when a server wants one)."""

    client: httpx.AsyncClient
    base_url: str
    credentials: tuple[str, str] | None  # (username, password)
    scopes: list[str]  # what the token flow asks for: pull on every canary repository
    request_timeout: float
    tokens: oci.TokenCache
    client_cert: bool = False
    authorization: str | None = None
    auth_tried: bool = False
    findings: list[Finding] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def fail(self, reason: str, status: Status = Status.DOWN) -> bool:
        """Record a finding; False, so that a phase can `return self.fail(...)`."""
        self.findings.append(Finding(status, reason))
        return False

    def timed(self, phase: str, started: float) -> None:
        """Add the time since `started` (perf_counter) to `phase`."""
        self.phases[phase] = round(self.phases.get(phase, 0.0) + time.perf_counter() - started, 6)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def transport_failure(self, exc: httpx.HTTPError) -> str:
        """`transport_reason` with this session's TLS client settings taken into account."""
        return transport_reason(exc, client_cert=self.client_cert)

    async def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        cap: int = MAX_ERROR_BODY_BYTES,
        auth: bool = True,
        peer_tls: bool = False,
    ) -> Answer:
        """One request (no redirects), its body read up to `cap` bytes; `peer_tls` also reads the
        connection's TLS version and certificate expiry. Raises httpx.HTTPError."""
        headers = dict(headers or {})
        if auth and self.authorization:
            headers["Authorization"] = self.authorization
        request = self.client.build_request(method, url, headers=headers, timeout=self.request_timeout)
        response = await self.client.send(request, stream=True, follow_redirects=False)
        tls: dict[str, Any] = {}
        try:
            if peer_tls:
                tls = response_tls_details(response)
            body = await read_capped(response, cap) if method != "HEAD" else b""
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, body, tls)

    async def manifest(self, ref: oci.ImageRef, method: str) -> Answer:
        """`method` (HEAD or GET) of a manifest with every manifest type in `Accept`, timed as the
        `manifest` phase. Raises httpx.HTTPError."""
        started = time.perf_counter()
        try:
            path = f"/v2/{ref.name}/manifests/{ref.reference}"
            return await self.fetch(method, self.url(path), headers={"Accept": oci.MANIFEST_ACCEPT},
                                    cap=MAX_MANIFEST_BYTES)
        finally:
            self.timed("manifest", started)

    # -- ping and auth -------------------------------------------------------------------------
    async def ping(self) -> bool:
        """GET /v2/: 200 is up, 401 is reachable (then authenticate), anything else is a finding.
        Over HTTPS, the registry's TLS version and certificate expiry go into the details."""
        started = time.perf_counter()
        try:
            answer = await self.fetch("GET", self.url("/v2/"), auth=False, peer_tls=True)
        except httpx.HTTPError as exc:
            return self.fail(f"GET /v2/: {self.transport_failure(exc)}")
        finally:
            self.timed("ping", started)
        self.details.update(answer.tls)
        version = answer.headers.get("Docker-Distribution-API-Version")
        if version:
            self.details["api_version"] = version
        if answer.status == 200:
            self.details["auth"] = "none"
            return True
        if answer.status == 401:
            return await self.authenticate(answer)
        if answer.status == 429:
            return self.fail(rate_limit_reason("GET /v2/", answer), Status.DEGRADED)
        if answer.status >= 500:
            return self.fail(f"registry unavailable: GET /v2/: {answer.describe()}")
        if answer.status == 400 and self.base_url.startswith("http://") and b"https" in answer.body.lower():
            # Go's "Client sent an HTTP request to an HTTPS server.", nginx's "plain HTTP request
            # was sent to HTTPS port": a misconfigured url, not a broken registry.
            return self.fail("GET /v2/: HTTP 400: the registry serves HTTPS here; the check's url says http://")
        return self.fail(f"not a v2 registry: GET /v2/: {answer.describe()}")

    async def authenticate(self, challenged: Answer) -> bool:
        """Answer a 401's challenge (Bearer token flow, else Basic), then prove the credentials
        on GET /v2/. The time from the challenge to the authenticated 200 is the `auth` phase."""
        self.auth_tried = True
        challenges = oci.parse_challenges(challenged.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        started = time.perf_counter()
        try:
            if bearer is not None:
                self.details["auth"] = "bearer"
                return await self._bearer(bearer)
            if basic is not None:
                self.details["auth"] = "basic"
                if self.credentials is None:
                    return self.fail(f"registry asks for Basic auth ({basic}) but the check has no credentials")
                self.authorization = basic_authorization(*self.credentials)
                return await self._verify("the registry rejected the credentials")
            if not challenges:
                return self.fail("HTTP 401 without a WWW-Authenticate challenge")
            return self.fail(f"unsupported auth scheme: {challenges[0]}")
        finally:
            self.timed("auth", started)

    async def _bearer(self, challenge: oci.Challenge) -> bool:
        realm = challenge.params.get("realm")
        if not realm:
            return self.fail(f"Bearer challenge without a realm: {challenge}")
        service = challenge.params.get("service", "")
        scopes = self.scopes or [s for s in challenge.params.get("scope", "").split(" ") if s]
        username, password = self.credentials or (None, None)
        key = self.tokens.key(realm, service, scopes, username, password)
        token = self.tokens.get(key)
        if token is not None:
            self.details["token"] = "cached"
            self.authorization = f"Bearer {token}"
            if await self._verify("", quiet=True):
                return True
            self.tokens.drop(key)  # revoked, or signed by a key the registry no longer trusts
        fetched = await self._fetch_token(realm, service, scopes)
        if fetched is None:
            return False
        self.tokens.put(key, *fetched)
        self.details["token"] = "fetched"
        self.details["token_lifetime"] = fetched[1]
        self.authorization = f"Bearer {fetched[0]}"
        return await self._verify(f"the registry rejected the token from {realm}")

    async def _fetch_token(self, realm: str, service: str, scopes: list[str]) -> tuple[str, float] | None:
        """GET <realm>?service=…&scope=… (with the check's credentials, if any): the token and
        its lifetime, or None after recording why not."""
        params = [("service", service)] if service else []
        params += [("scope", scope) for scope in scopes]
        headers = {"Authorization": basic_authorization(*self.credentials)} if self.credentials else None
        try:
            # Merged, not replaced: a realm may carry its own query (`…/token?account=x`).
            realm_url = httpx.URL(self.base_url).join(realm).copy_merge_params(params)
        except httpx.InvalidURL as exc:
            self.fail(f"Bearer challenge with an invalid realm {realm!r}: {exc}")
            return None
        try:
            answer = await self.fetch("GET", str(realm_url), auth=False, headers=headers)
        except httpx.HTTPError as exc:
            self.fail(f"token server {realm}: {self.transport_failure(exc)}")
            return None
        if answer.status == 200:
            try:
                return oci.parse_token_response(answer.body)
            except ValueError as exc:
                self.fail(f"token server {realm}: {exc}")
        elif answer.status == 429:
            self.fail(rate_limit_reason(f"token server {realm}", answer), Status.DEGRADED)
        elif answer.status in (401, 403):
            who = f"for {self.credentials[0]}" if self.credentials else "(anonymous)"
            self.fail(f"token server {realm} refused a token {who}: {answer.describe()}")
        else:
            self.fail(f"token server {realm}: {answer.describe()}")
        return None

    async def _verify(self, rejected: str, *, quiet: bool = False) -> bool:
        """GET /v2/ with the credentials: 200 proves them; `quiet` leaves a 401 unrecorded."""
        try:
            answer = await self.fetch("GET", self.url("/v2/"))
        except httpx.HTTPError as exc:
            return self.fail(f"GET /v2/ (authenticated): {self.transport_failure(exc)}")
        if answer.status == 200:
            return True
        if answer.status == 401:
            self.authorization = None
            return False if quiet else self.fail(f"{rejected}: {answer.describe()}")
        if answer.status == 429:
            return self.fail(rate_limit_reason("GET /v2/", answer), Status.DEGRADED)
        return self.fail(f"GET /v2/ (authenticated): {answer.describe()}")


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """Up to `cap` bytes of the body; stops even on an endless one."""
    body = bytearray()
    async with aclosing(response.aiter_bytes()) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) >= cap:
                return bytes(body[:cap])
    return bytes(body)


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization: Basic …` value for these credentials."""
    request = next(httpx.BasicAuth(username, password).auth_flow(httpx.Request("GET", "/")))
    return request.headers["Authorization"]


def rate_limit_reason(what: str, answer: Answer) -> str:
    """`<what>: rate limited (TOOMANYREQUESTS: …), retry after 120s`."""
    retry = oci.parse_retry_after(answer.headers.get("Retry-After"))
    errors = answer.errors or "HTTP 429"
    return f"{what}: rate limited ({errors})" + (f", retry after {retry:g}s" if retry is not None else "")


def transport_reason(exc: httpx.HTTPError, *, client_cert: bool = True) -> str:
    """A short reason for a request that got no response; `client_cert` False: the client
    presents no TLS client certificate (see `tls_error_reason`)."""
    reason = tls_error_reason(exc, client_cert=client_cert) or os_error_reason(exc)
    if reason:
        return reason
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc).strip()
        if not text or "disconnected without" in text:
            return "connection closed without a response"
        return f"invalid HTTP response: {text.splitlines()[0]}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__} (backstop after {BACKSTOP_TIMEOUT_FACTOR} times the check's timeout)"
    return f"{type(exc).__name__}: {exc}"
