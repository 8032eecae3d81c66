"""The tcp probe against real local servers: connect, send/expect, EOF, reset, TLS."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from probes import tcp
from probes.base import ProbeContext, Status

Serve = Any  # conftest's `serve` fixture


def check(port: int, **settings: Any) -> tcp.Check:
    return tcp.Check(name="tcp", component="test", host="127.0.0.1", port=port, **settings)


async def banner_then_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 ready\r\n")
    while line := await reader.readline():
        writer.write(b"echo " + line)
        await writer.drain()
        if line.strip() == b"QUIT":
            return


async def silent_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()  # closing with unread data would reset the connection instead
    writer.close()


async def test_connect_only(serve: Serve, ctx: ProbeContext) -> None:
    server = await serve(silent_close)
    result = await tcp.probe(check(server.port, send="hi\\n"), ctx)
    assert (result.status, result.reason) == (Status.UP, "connected")


async def test_send_and_expect(serve: Serve, ctx: ProbeContext) -> None:
    server = await serve(banner_then_echo)
    cfg = check(server.port, send=r"PING\r\nQUIT\n", expect=r"echo PING\r\n")
    result = await tcp.probe(cfg, ctx)
    assert result.status is Status.UP, result.reason
    regex = check(server.port, send="HELLO\\n", expect_regex=r"^220 \w+")
    assert (await tcp.probe(regex, ctx)).status is Status.UP


async def test_reply_does_not_match(serve: Serve, ctx: ProbeContext) -> None:
    server = await serve(banner_then_echo)
    cfg = check(server.port, send="QUIT\\n", expect="SSH-2.0")
    result = await tcp.probe(cfg, ctx)
    assert result.status is Status.DOWN
    assert result.reason.startswith("reply does not match (EOF after"), result.reason
    assert result.details["reply"].startswith("220 ready")


async def test_read_bytes_cap(serve: Serve, ctx: ProbeContext) -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(b"x" * 4096)
            await writer.drain()

    server = await serve(chatty)
    async with asyncio.timeout(5):
        result = await tcp.probe(check(server.port, expect="never", read_bytes=10_000), ctx)
    assert (result.status, result.reason) == (
        Status.DOWN,
        "reply does not match (read_bytes cap reached after 10000 bytes)",
    )


async def test_no_reply(serve: Serve, ctx: ProbeContext) -> None:
    server = await serve(silent_close)
    result = await tcp.probe(check(server.port, send="hi\\n", expect="hello"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "no reply (EOF)")


async def test_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    result = await tcp.probe(check(closed_port), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


async def test_connection_reset(reset_server: Any, ctx: ProbeContext) -> None:
    cfg = check(reset_server.port, send="GET / HTTP/1.1\\r\\n\\r\\n", expect="HTTP/1.1")
    result = await tcp.probe(cfg, ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection reset")


async def test_tls(serve: Serve, pki: Any, ctx: ProbeContext) -> None:
    server = await serve(banner_then_echo, pki.server_context())
    untrusted = await tcp.probe(check(server.port, tls=True, expect="220"), ctx)
    assert untrusted.status is Status.DOWN
    assert untrusted.reason.startswith("TLS: certificate verify failed"), untrusted.reason

    result = await tcp.probe(check(server.port, tls={"ca_file": pki.ca_file}, expect="220"), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["tls_version"].startswith("TLS")
    assert result.details["cert_not_after"] > 0


def test_unescape() -> None:
    assert tcp.unescape(r"a\r\n\t\x00\\q\é") == b"a\r\n\t\x00\\q\\\xc3\xa9"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"surprise": 1}, "surprise"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"expect_regex": "(unclosed"}, "is not a valid regular expression"),
        ({"tls": {"verify": False, "surprise": 1}}, "surprise"),
        ({"expect": ""}, "expect must not be empty"),
    ],
)
def test_config_is_validated(settings: dict[str, Any], message: str) -> None:
    fields = {"host": "example.test", "port": 25, **settings}
    with pytest.raises(ValidationError) as error:
        tcp.Check(name="tcp", component="test", **fields)
    assert message in str(error.value)


def test_tls_switch() -> None:
    assert check(1, tls=False).tls is None
    assert check(1, tls=True).tls is not None and check(1, tls=True).tls.verify
    assert check(1, tls={"verify": False}).tls.verify is False  # type: ignore[union-attr]
