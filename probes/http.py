"""The `http` probe: one request (following redirects unless told not to), judged on status,
headers, body and latency (the expectations are in probes/http_expect.py, shared with `flow`).
Reads at most `max_body_bytes` of body; never times itself out (the runner does) and never
raises for a failing target."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
)

from probes.base import (
    CheckBase,
    HttpUrl,
    ProbeContext,
    Result,
    format_duration,
)
from probes.clients import request_url
from probes.http_expect import (
    BACKSTOP_TIMEOUT_FACTOR,
    MIB,
    Expect,
    failure_reason,
    read_body,
    response_failure,
)
from probes.tls_client import TlsSettings, response_tls_details

__all__ = ["Check", "probe"]



def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class Check(CheckBase):
    """Send one HTTP request and judge the response."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"headers", "body"})

    kind: Literal["http"] = "http"
    url: HttpUrl
    method: Annotated[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], BeforeValidator(_upper)] = (
        "GET"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=100)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    reuse_connections: bool = False
    """Keep connections alive between runs. Off (default): every run opens its own connection,
    so a broken connect path is never hidden by a pooled one."""
    max_body_bytes: int = Field(default=MIB, ge=0, le=64 * MIB)
    """Most body bytes (after content decoding) read; reading stops there (not a failure) and
    body expectations are judged on what was read."""
    expect: Expect = Field(default_factory=Expect)


    @field_validator("headers")
    @classmethod
    def _single_line_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if any(c in name + text for c in "\r\n\0") or not name.strip() or ":" in name:
                raise ValueError(f"header {name!r}: names and values must be single-line text")
        return value


@dataclass(slots=True)
class _Exchange:
    response: httpx.Response  # closed; its body is `body`
    body: bytes
    truncated: bool
    redirects: int
    details: dict[str, Any]


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Request `cfg.url` and judge the final response. `latency` is the request's own time
    (connect to the end of the body read, redirects included); details hold `phases`
    {headers, body} in seconds."""
    try:
        tls = cfg.tls  # attributes, not model_dump(): this runs for every probe
        client = ctx.clients.http(
            verify=tls.verify,
            ca_file=tls.ca_file,
            cert_file=tls.cert_file,
            key_file=tls.key_file,
            reuse_connections=cfg.reuse_connections,
        )
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    started = time.perf_counter()
    try:
        exchange = await _exchange(client, cfg, started)
    except httpx.HTTPError as exc:
        return Result.down(failure_reason(exc, client_cert=tls.cert_file is not None))
    latency = time.perf_counter() - started
    result = _judge(cfg, exchange, latency)
    result.latency = latency
    return result


async def _exchange(client: httpx.AsyncClient, cfg: Check, started: float) -> _Exchange:
    request = client.build_request(
        cfg.method,
        request_url(cfg.url, cfg.headers),
        headers=cfg.headers,
        content=cfg.body.encode() if cfg.body is not None else None,
        timeout=cfg.timeout * BACKSTOP_TIMEOUT_FACTOR,
    )
    cookies = httpx.Cookies()  # this run's only: carried from hop to hop, never to the next run
    redirects = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            next_request = response.next_request
            if cfg.follow_redirects and next_request is not None:
                if redirects >= cfg.max_redirects:
                    raise httpx.TooManyRedirects(f"too many redirects (more than {cfg.max_redirects})", request=request)
                redirects += 1
                cookies.extract_cookies(response)
                cookies.set_cookie_header(next_request)
                request = next_request
                continue
            headers_at = time.perf_counter()
            details = response_tls_details(response)  # before the body, while the connection is open
            body, truncated = await read_body(response, cfg.max_body_bytes)
            details["phases"] = {
                "headers": round(headers_at - started, 6),  # connect, TLS, redirects, server time
                "body": round(time.perf_counter() - headers_at, 6),
            }
            return _Exchange(response, body, truncated, redirects, details)
        finally:
            await response.aclose()
            # the response and its stream wrapper refer to each other: a reference cycle of ~50
            # objects per probe that only the cyclic GC frees (long pauses at 10,000 checks)
            response.stream = httpx.ByteStream(b"")


def _judge(cfg: Check, ex: _Exchange, latency: float) -> Result:
    response = ex.response
    details: dict[str, Any] = {
        "status_code": response.status_code,
        "http_version": response.http_version,
        "url": str(response.url),
        "redirects": ex.redirects,
        "body_bytes_read": len(ex.body),
        **ex.details,
    }
    if ex.truncated:
        details["body_truncated"] = True
    expect = cfg.expect
    failure = response_failure(expect, response, ex.body, ex.truncated)
    if failure:
        return Result.down(failure, **details)
    if expect.max_latency is not None and latency > expect.max_latency:
        took, limit = format_duration(round(latency, 3)), format_duration(expect.max_latency)
        return Result.degraded(f"slow: {took} (max_latency {limit})", **details)
    return Result.up(f"HTTP {response.status_code}", **details)
