"""ClientPool: caching by TLS settings, no silent redirects or env proxies, fresh connections by
default, and closing what it opened."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from probes.clients import ClientPool

Serve = Pki = Any  # conftest's


async def keep_alive_server(serve: Serve) -> tuple[Any, asyncio.Event]:
    """An HTTP/1.1 server answering 200 on one connection for as long as the client keeps it."""
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                close = b"connection: close" in head.lower()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                if close:
                    return
        except asyncio.IncompleteReadError:
            closed.set()  # the client closed its end

    return await serve(handle), closed


async def test_cached_by_settings(pool: ClientPool, pki: Pki) -> None:
    assert pool.http() is pool.http()
    assert pool.http() is not pool.http(reuse_connections=True)
    assert pool.http(ca_file=pki.ca_file) is not pool.http()
    assert pool.ssl_context(ca_file=pki.ca_file) is pool.ssl_context(ca_file=pki.ca_file)
    assert pool.ssl_context(verify=False) is not pool.ssl_context()


def test_bad_tls_files_raise_and_are_not_cached(tmp_path: Any) -> None:
    pool = ClientPool()
    with pytest.raises(OSError):
        pool.ssl_context(ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="key_file needs a cert_file"):
        pool.ssl_context(key_file=str(tmp_path / "k.pem"))


async def test_no_redirects_unless_asked(http_server: Any, pool: ClientPool) -> None:
    url = f"http://127.0.0.1:{http_server.port}/redirect"
    assert (await pool.http().get(url)).status_code == 302
    assert (await pool.http().get(url, follow_redirects=True)).status_code == 200


async def test_ignores_proxy_environment(
    http_server: Any, pool: ClientPool, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    response = await pool.http().get(f"http://127.0.0.1:{http_server.port}/ok")
    assert response.status_code == 200


async def test_fresh_connection_per_request_by_default(serve: Serve, pool: ClientPool) -> None:
    server, _ = await keep_alive_server(serve)
    url = f"http://127.0.0.1:{server.port}/"
    for _ in range(3):
        assert (await pool.http().get(url)).text == "ok"
    assert server.connections == 3
    for _ in range(3):
        assert (await pool.http(reuse_connections=True).get(url)).text == "ok"
    assert server.connections == 4


async def test_aclose_closes_kept_connections(serve: Serve) -> None:
    server, closed = await keep_alive_server(serve)
    pool = ClientPool()
    await pool.http(reuse_connections=True).get(f"http://127.0.0.1:{server.port}/")
    assert not closed.is_set()
    await pool.aclose()
    async with asyncio.timeout(5):
        await closed.wait()
    with pytest.raises(RuntimeError, match="closed"):
        pool.http()


async def test_errors_are_httpx_errors(closed_port: int, garbage_server: Any, pool: ClientPool) -> None:
    with pytest.raises(httpx.ConnectError):
        await pool.http().get(f"http://127.0.0.1:{closed_port}/")
    with pytest.raises(httpx.RemoteProtocolError):
        await pool.http().get(f"http://127.0.0.1:{garbage_server.port}/")


async def test_tls_connection_info(start_https: Any, pki: Pki, pool: ClientPool) -> None:
    server = await start_https(pki.server_context())
    async with pool.http(ca_file=pki.ca_file).stream("GET", f"https://127.0.0.1:{server.port}/ok") as response:
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        assert ssl_object.version().startswith("TLS")
        assert ssl_object.getpeercert(binary_form=True)
        assert response.http_version == "HTTP/1.1"
