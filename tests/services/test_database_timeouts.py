"""A server that accepts connections and never says a word: each database probe gives up on its
own, inside the check's timeout (as the runner enforces it), with a reason of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from probes import mysql, postgres, redis
from probes.base import ProbeContext, Status


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the connection open, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("module", "check_timeout", "reason"),
    [
        # The probes allow 80 % of the check's timeout; libpq counts whole seconds, 2 at least.
        (postgres, 3.0, "connect timeout after 2s"),
        (mysql, 2.0, "connection lost during the MySQL handshake (timed out)"),
        (redis, 2.0, "timeout after 1.6s (Timeout reading from 127.0.0.1:{port})"),
    ],
    ids=["postgres", "mysql", "redis"],
)
async def test_silent_server(module, check_timeout: float, reason: str, silent_port: int, ctx: ProbeContext) -> None:
    cfg = module.Check(name="db", component="data", host="127.0.0.1", port=silent_port, timeout=check_timeout)
    started = time.perf_counter()
    async with asyncio.timeout(cfg.timeout):  # as the runner does: the probe must finish first
        result = await module.probe(cfg, ctx)
    assert result.status is Status.DOWN
    assert result.reason == reason.format(port=silent_port)
    assert time.perf_counter() - started < cfg.timeout
