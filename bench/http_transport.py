"""Benchmark: CPU cost per request of each candidate HTTP client transport against a local server.
Measures the client process only (the server runs in a subprocess); loopback traffic only.

    .venv/bin/python bench/http_transport.py [--requests 5000] [--concurrency 200] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx

WARMUP_REQUESTS = 200
_REPO = str(Path(__file__).resolve().parent.parent)
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"


# --- server (runs in its own process, so its CPU is not counted) -------------------------------


class _HttpServerProtocol(asyncio.Protocol):
    """Answers every request with a fixed 200; honours `Connection: close` and HTTP keep-alive."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4 :]
            close = b"connection: close" in head
            extra = b"Connection: close\r\n" if close else b""
            self.transport.write(_RESPONSE + extra + b"\r\nok")
            if close:
                self.transport.close()
                return


def serve() -> None:
    """Server process entry: listen on 127.0.0.1:0, print the port, serve until terminated."""
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            _HttpServerProtocol, "127.0.0.1", 0, backlog=4096
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    uvloop.run(main())


@asynccontextmanager
async def server_process() -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(10):
            port = int(await proc.stdout.readline())
        yield port
    finally:
        proc.terminate()
        await proc.wait()


# --- candidates (each: an async factory returning (get, close)) ---------------------------------

Get = Callable[[str], Awaitable[int]]


def _httpx_get(client: httpx.AsyncClient) -> Get:
    async def get(url: str) -> int:
        response = await client.get(url)
        return response.status_code

    return get


async def _httpx_pool() -> tuple[Get, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(trust_env=False)  # httpx defaults: pooled, keep-alive, 100 connections
    return _httpx_get(client), client.aclose


async def _httpx_fresh() -> tuple[Get, Callable[[], Awaitable[None]]]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    client = httpx.AsyncClient(transport=transport, trust_env=False)
    return _httpx_get(client), client.aclose


async def _httpx_aiohttp() -> tuple[Get, Callable[[], Awaitable[None]]]:
    from httpx_aiohttp import AiohttpTransport

    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    transport = AiohttpTransport(client=aiohttp.ClientSession(connector=connector))
    client = httpx.AsyncClient(transport=transport, trust_env=False)
    return _httpx_get(client), client.aclose


async def _aiohttp_raw() -> tuple[Get, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))

    async def get(url: str) -> int:
        async with session.get(url) as response:
            await response.read()
            return response.status

    return get, session.close


def _pool_factory(reuse: bool) -> Callable[[], Awaitable[tuple[Get, Callable[[], Awaitable[None]]]]]:
    async def factory() -> tuple[Get, Callable[[], Awaitable[None]]]:
        sys.path.insert(0, _REPO)
        from probes.clients import ClientPool

        pool = ClientPool()
        return _httpx_get(pool.http(reuse_connections=reuse)), pool.aclose

    return factory


async def _whole_probe() -> tuple[Get, Callable[[], Awaitable[None]]]:
    """The http probe itself (ClientPool underneath): what one check run costs, judging included."""
    sys.path.insert(0, _REPO)
    import logging

    from probes import http
    from probes.base import ProbeContext, Status
    from probes.clients import ClientPool

    pool = ClientPool()
    ctx = ProbeContext(logging.getLogger("bench"), pool)
    checks: dict[str, http.Check] = {}

    async def get(url: str) -> int:
        cfg = checks.get(url) or checks.setdefault(
            url, http.Check(name="bench", component="bench", url=url, expect={"body_contains": "ok"})
        )
        result = await http.probe(cfg, ctx)
        return 200 if result.status is Status.UP else 0

    return get, pool.aclose


CANDIDATES = {
    "httpx-pool": _httpx_pool,
    "httpx-fresh": _httpx_fresh,
    "httpx+httpx-aiohttp": _httpx_aiohttp,
    "aiohttp-raw": _aiohttp_raw,
    "ClientPool": _pool_factory(reuse=False),
    "ClientPool-reuse": _pool_factory(reuse=True),
    "http.probe": _whole_probe,
}


# --- client run (one candidate per process, so imports and caches do not leak between them) -----


async def _fire(get: Get, url: str, requests: int, concurrency: int) -> int:
    """Send `requests` GETs with `concurrency` in flight; return how many did not get a 200."""
    remaining = requests
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            try:
                if await get(url) != 200:
                    failures += 1
            except (httpx.HTTPError, aiohttp.ClientError, OSError):
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def run_candidate(name: str, port: int, requests: int, concurrency: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/health"
    get, close = await CANDIDATES[name]()
    try:
        await _fire(get, url, WARMUP_REQUESTS, min(concurrency, WARMUP_REQUESTS))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        failures = await _fire(get, url, requests, concurrency)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await close()
    return {
        "requests_per_s": requests / wall,
        "cpu_s_per_1000": cpu / requests * 1000,
        "failures": failures,
    }


def client_main(args: argparse.Namespace) -> None:
    coro = run_candidate(args.candidate, args.port, args.requests, args.concurrency)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    print(json.dumps(result))


# --- orchestration ------------------------------------------------------------------------------


async def orchestrate(args: argparse.Namespace) -> None:
    names = args.only or list(CANDIDATES)
    print(f"{args.requests} GETs, {args.concurrency} concurrent, {socket.gethostname()}, "
          f"{os.cpu_count()} CPUs; client CPU only (time.process_time)")
    print(f"{'candidate':<22} {'loop':<8} {'req/s':>8} {'CPU-s/1000':>11} {'failures':>9}")
    for name in names:
        for loop in ("asyncio", "uvloop"):
            # A fresh server (and port) per run keeps TIME_WAIT sockets of one run from another.
            async with server_process() as port:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--candidate", name, "--loop", loop, "--port", str(port),
                    "--requests", str(args.requests), "--concurrency", str(args.concurrency),
                    stdout=subprocess.PIPE,
                )
                out, _ = await proc.communicate()
            if proc.returncode != 0:
                print(f"{name:<22} {loop:<8} failed (exit {proc.returncode})")
                continue
            r = json.loads(out)
            print(f"{name:<22} {loop:<8} {r['requests_per_s']:>8.0f} {r['cpu_s_per_1000']:>11.3f} "
                  f"{r['failures']:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--candidate", choices=list(CANDIDATES), help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.candidate:
        client_main(args)
    else:
        asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
