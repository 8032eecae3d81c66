"""The tls probe against local TLS servers with trustme certificates of chosen lifetimes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from probes import tls
from probes.base import ProbeContext, Status

Serve = Pki = Any  # conftest's


async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


def check(port: int, **settings: Any) -> tls.Check:
    return tls.Check(name="cert", component="test", host="127.0.0.1", port=port, **settings)


@pytest.mark.parametrize(
    ("days", "status", "reason_start"),
    [
        (2, Status.DOWN, "certificate expires in 2.0 days (critical below 3)"),
        (10, Status.DEGRADED, "certificate expires in 10.0 days (warning below 14)"),
        (90, Status.UP, "certificate valid for 90 more days"),
    ],
)
async def test_days_left_thresholds(
    serve: Serve, pki: Pki, ctx: ProbeContext, days: float, status: Status, reason_start: str
) -> None:
    server = await serve(idle, pki.server_context(days=days))
    result = await tls.probe(check(server.port, ca_file=pki.ca_file), ctx)
    assert (result.status, result.reason) == (status, reason_start)
    details = result.details
    assert days - 0.01 < details["days_left"] <= days
    assert abs(details["cert_not_after"] - (time.time() + days * 86400)) < 60
    assert details["tls_version"].startswith("TLS")
    assert "127.0.0.1" in details["sans"]
    assert "localhost" in details["sans"]
    assert details["issuer"] and details["subject"] is not None and details["serial"]


async def test_hostname_mismatch_is_down_with_expiry(serve: Serve, pki: Pki, ctx: ProbeContext) -> None:
    server = await serve(idle, pki.server_context("other.test", days=90))
    result = await tls.probe(check(server.port, ca_file=pki.ca_file, server_name="wrong.test"), ctx)
    assert result.status is Status.DOWN
    assert result.reason == (
        "TLS: certificate verify failed: Hostname mismatch, certificate is not valid for 'wrong.test'"
    )
    assert 89 < result.details["days_left"] <= 90


async def test_untrusted_chain_is_down_unless_verify_off(serve: Serve, pki: Pki, ctx: ProbeContext) -> None:
    server = await serve(idle, pki.server_context(days=30))
    result = await tls.probe(check(server.port), ctx)  # default CA bundle: trustme's CA unknown
    assert result.status is Status.DOWN
    assert result.reason.startswith("TLS: certificate verify failed: unable to get local issuer"), result.reason
    assert "cert_not_after" in result.details

    unverified = await tls.probe(check(server.port, verify=False), ctx)
    assert unverified.status is Status.UP, unverified.reason
    assert 29 < unverified.details["days_left"] <= 30


async def test_expired_certificate(serve: Serve, pki: Pki, ctx: ProbeContext) -> None:
    server = await serve(idle, pki.server_context(days=-1))
    result = await tls.probe(check(server.port, ca_file=pki.ca_file), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "TLS: certificate verify failed: certificate has expired")
    assert -1.01 < result.details["days_left"] < -0.99
    unverified = await tls.probe(check(server.port, verify=False), ctx)
    assert (unverified.status, unverified.reason) == (Status.DOWN, "certificate expired 1.0 days ago")


async def test_not_tls(serve: Serve, ctx: ProbeContext) -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    server = await serve(plain_http)
    result = await tls.probe(check(server.port), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "TLS: server does not speak TLS (wrong version number)")


async def test_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    result = await tls.probe(check(closed_port), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"surprise": 1}, "surprise"),
        ({"port": 65536}, "less than or equal to 65535"),
        ({"warn_days": 2, "critical_days": 5}, "critical_days must not exceed warn_days"),
        ({"warn_days": -1}, "greater than or equal to 0"),
    ],
)
def test_config_is_validated(settings: dict[str, Any], message: str) -> None:
    fields = {"host": "example.test", **settings}
    with pytest.raises(ValidationError) as error:
        tls.Check(name="cert", component="test", **fields)
    assert message in str(error.value)
