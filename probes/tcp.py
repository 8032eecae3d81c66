"""The `tcp` probe: connect (optionally over TLS), optionally send, and match the reply.
Reads at most `read_bytes`; never times itself out (the runner does)."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from probes.base import CheckBase, ProbeContext, Regex, Result, os_error_reason
from probes.tls_client import TlsSettings, peer_tls_details, tls_error_reason

__all__ = ["Check", "probe", "unescape"]

_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|[nrt0\\])")
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "0": b"\0", "\\": b"\\"}
_REPLY_EXCERPT_CHARS = 200


def unescape(text: str) -> bytes:
    r"""`text` as UTF-8 bytes with `\n`, `\r`, `\t`, `\0`, `\\` and `\xHH` escapes decoded, so
    that protocol lines can be written in single-quoted or plain YAML. Other backslashes stay."""
    out = bytearray()
    position = 0
    for match in _ESCAPE_RE.finditer(text):
        out += text[position : match.start()].encode()
        code = match.group(1)
        out += bytes([int(code[1:], 16)]) if code.startswith("x") else _ESCAPES[code]
        position = match.end()
    out += text[position:].encode()
    return bytes(out)


def _tls_switch(value: Any) -> Any:
    if value is True:
        return TlsSettings()
    if value is False:
        return None
    return value


class Check(CheckBase):
    """Open a TCP connection to `host:port`; with `send`/`expect`, hold a short conversation."""

    kind: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    send: str | None = None
    r"""Sent once connected; `\n`, `\r`, `\t`, `\0`, `\\`, `\xHH` escapes are decoded."""
    expect: str | None = None
    """The reply must contain these bytes (same escapes as `send`)."""
    expect_regex: Regex | None = None
    """The reply (decoded as UTF-8) must match this regular expression (searched, not anchored)."""
    tls: Annotated[TlsSettings | None, BeforeValidator(_tls_switch)] = None
    """`true` for TLS with default verification, a mapping for settings, `false`/absent for plain TCP."""
    server_name: str | None = None
    """With TLS: name sent as SNI and verified against the certificate; defaults to `host`."""
    read_bytes: int = Field(default=65536, ge=1, le=16 * 1024 * 1024)
    """Most bytes of reply read while waiting for `expect`/`expect_regex` to match."""

    @model_validator(mode="after")
    def _expect_not_empty(self) -> Check:
        if self.expect == "":
            raise ValueError("expect must not be empty (omit it to only connect)")
        return self


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Connect (TLS if set), send `send`, read until the expectation matches, EOF or the cap."""
    context: ssl.SSLContext | None = None
    if cfg.tls is not None:
        try:
            context = ctx.clients.ssl_context(**cfg.tls.model_dump())
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            return Result.down(f"TLS settings: {exc}")
    server_hostname = (cfg.server_name or cfg.host) if context else None
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(
            cfg.host, cfg.port, ssl=context, server_hostname=server_hostname
        )
    except OSError as exc:
        return Result.down(_failure_reason(exc, client_cert=cfg.tls is None or cfg.tls.cert_file is not None))
    connected = time.perf_counter()
    details = peer_tls_details(writer.get_extra_info("ssl_object"))
    try:
        result = await _converse(cfg, reader, writer, details)
    except OSError as exc:
        result = Result.down(_failure_reason(exc, client_cert=cfg.tls is None or cfg.tls.cert_file is not None),
                             **details)
    finally:
        if context is None:
            writer.close()
        else:
            # A graceful TLS close waits for the peer's close_notify; the exchange is over.
            writer.transport.abort()
    phases = {"connect": round(connected - started, 6)}  # TLS handshake included
    if cfg.send or cfg.expect is not None or cfg.expect_regex is not None:
        phases["conversation"] = round(time.perf_counter() - connected, 6)
    result.details["phases"] = phases
    return result


async def _converse(
    cfg: Check, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, details: dict[str, Any]
) -> Result:
    if cfg.send:
        writer.write(unescape(cfg.send))
        await writer.drain()
    if cfg.expect is None and cfg.expect_regex is None:
        return Result.up("connected", **details)
    expected = unescape(cfg.expect) if cfg.expect is not None else None
    reply = bytearray()
    while len(reply) < cfg.read_bytes:
        chunk = await reader.read(cfg.read_bytes - len(reply))
        if not chunk:
            break
        reply += chunk
        if _matches(reply, expected, cfg.expect_regex):
            return Result.up("reply matches", bytes_read=len(reply), **details)
    details["bytes_read"] = len(reply)
    if not reply:
        return Result.down("no reply (EOF)", **details)
    ended = "read_bytes cap reached" if len(reply) >= cfg.read_bytes else "EOF"
    details["reply"] = reply[:_REPLY_EXCERPT_CHARS].decode("utf-8", "replace")
    return Result.down(f"reply does not match ({ended} after {len(reply)} bytes)", **details)


def _matches(reply: bytearray, expected: bytes | None, pattern: re.Pattern[str] | None) -> bool:
    if expected is not None and expected not in reply:
        return False
    return pattern is None or pattern.search(reply.decode("utf-8", "replace")) is not None


def _failure_reason(exc: OSError, *, client_cert: bool) -> str:
    """`client_cert`: whether a client certificate was configured (see `tls_error_reason`)."""
    return tls_error_reason(exc, client_cert=client_cert) or os_error_reason(exc) or f"connection failed: {exc}"
