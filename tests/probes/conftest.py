"""Real servers on 127.0.0.1:0 for the probe tests (HTTP, misbehaving TCP, DNS), trustme
certificates, and a probe context over a fresh client pool."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from probes.base import ProbeContext
from probes.clients import ClientPool
from tests.pki import Pki

Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]
JSON_DOC = {"status": "green", "version": "1.2.3", "count": 3, "checks": [{"name": "db", "ok": True}]}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool()
    yield clients
    await clients.aclose()


@pytest.fixture
def ctx(pool: ClientPool) -> ProbeContext:
    return ProbeContext(logging.getLogger("tests.probes"), pool)


# --- certificates -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    server: asyncio.Server
    connections: int = 0

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]


async def _serve(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                 ssl_context: ssl.SSLContext | None = None) -> Server:
    holder: list[Server] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        holder[0].connections += 1
        try:
            await handle(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the probe went away (body cap, timeout): expected in these tests
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=ssl_context)
    holder.append(Server(server))
    return holder[0]


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


def respond(writer: asyncio.StreamWriter, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
            content_type: str = "text/plain") -> None:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


async def _route(request: Request, writer: asyncio.StreamWriter) -> None:
    path = request.path
    if request.method == "HEAD":  # headers as for GET, no body
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\n")
    elif path == "/ok":
        respond(writer, 200, b"all ok", {"X-Version": "1.2.3"})
    elif path.startswith("/status/"):
        respond(writer, int(path.rsplit("/", 1)[1]), b"nope")
    elif path == "/json":
        respond(writer, 200, json.dumps(JSON_DOC).encode(), content_type="application/json")
    elif path == "/slow":
        await asyncio.sleep(0.3)
        respond(writer, 200, b"slow ok")
    elif path == "/redirect":
        respond(writer, 302, headers={"Location": "/ok"})
    elif path == "/login":  # sets a cookie that the next hop requires
        respond(writer, 302, headers={"Location": "/private", "Set-Cookie": "session=abc; Path=/"})
    elif path == "/private":
        ok = "session=abc" in request.headers.get("cookie", "")
        respond(writer, 200 if ok else 401, b"welcome" if ok else b"who are you")
    elif path in ("/basic", "/basic/again"):
        await _basic(request, writer)
    elif path.startswith("/redirect-to/"):  # another origin: 127.0.0.1 on the port given
        respond(writer, 302, headers={"Location": f"http://127.0.0.1:{path.rsplit('/', 1)[1]}/landed"})
    elif path == "/loop":
        respond(writer, 302, headers={"Location": "/loop"})
    elif path == "/echo":
        respond(writer, 200, f"{request.method} {request.body.decode()}".encode())
    elif path == "/endless":
        await _endless(writer)
    elif path == "/drip":
        await _drip(writer)
    else:
        respond(writer, 404, b"not found")
    await writer.drain()


BASIC_USER, BASIC_PASSWORD = "robot", "p@ss:w/rd é"
"""What `/basic` accepts (RFC 7617 Basic); in a URL: `robot:p%40ss%3Aw%2Frd%20%C3%A9@`."""


async def _basic(request: Request, writer: asyncio.StreamWriter) -> None:
    """`/basic`: 200 for BASIC_USER/BASIC_PASSWORD; else 401 with JSON echoing the Authorization
    header, as careless servers do. `/basic/again`: a same-origin redirect to `/basic`."""
    if request.path == "/basic/again":
        respond(writer, 302, headers={"Location": "/basic"})
        return
    expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    got = request.headers.get("authorization")
    if got == expected:
        respond(writer, 200, b"welcome")
    else:
        body = json.dumps({"error": "denied", "authorization": got})
        respond(writer, 401, body.encode(), content_type="application/json")


async def _endless(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
    chunk = b"y" * 16384
    while True:  # until the client hangs up
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()


async def _drip(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b".")
        await writer.drain()
        await asyncio.sleep(0.05)


async def _http_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while (request := await _read_request(reader)) is not None:
        await _route(request, writer)
        if request.headers.get("connection", "").lower() == "close":
            return


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """Start servers (a connection handler, optionally over TLS) closed when the test ends."""
    started: list[Server] = []

    async def start(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                    ssl_context: ssl.SSLContext | None = None) -> Server:
        started.append(await _serve(handle, ssl_context))
        return started[-1]

    yield start
    for server in started:
        server.server.close()
        await server.server.wait_closed()


@pytest.fixture
async def http_server(serve: Callable[..., Awaitable[Server]]) -> Server:
    return await serve(_http_handler)


@pytest.fixture
def start_https(serve: Callable[..., Awaitable[Server]]) -> Callable[[ssl.SSLContext], Awaitable[Server]]:
    async def start(context: ssl.SSLContext) -> Server:
        return await serve(_http_handler, context)

    return start


async def reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then close with SO_LINGER 0 so the peer gets an RST."""
    await reader.readuntil(b"\r\n\r\n")
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def garbage_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HELLO\r\n\r\n")
    await writer.drain()


@pytest.fixture
async def reset_server(serve: Callable[..., Awaitable[Server]]) -> Server:
    """Reads a request, then resets the connection."""
    return await serve(reset_after_request)


@pytest.fixture
async def garbage_server(serve: Callable[..., Awaitable[Server]]) -> Server:
    """Answers any request with "HELLO" instead of HTTP."""
    return await serve(garbage_reply)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- DNS ----------------------------------------------------------------------------------------

DNS_RECORDS = {
    ("ok.test.", "A"): ["192.0.2.1", "192.0.2.2"],
    ("ok.test.", "AAAA"): ["2001:db8::1"],
    ("txt.test.", "TXT"): ['"v=spf1 -all"'],
    ("mx.test.", "MX"): ["10 mail.test."],
    ("alias.test.", "CNAME"): ["ok.test."],
    ("1.2.0.192.in-addr.arpa.", "PTR"): ["ok.test."],
}


def dns_answer(wire: bytes) -> bytes:
    """A toy authoritative server: the records above, SERVFAIL for broken.test, NXDOMAIN for
    names it does not know, an empty NOERROR for known names without the asked type."""
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
    if name == "broken.test.":
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    if name == "alias.test." and rdtype != "CNAME":  # follow the CNAME, as resolvers answer
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", "ok.test."))
        name = "ok.test."
    records = DNS_RECORDS.get((name, rdtype))
    if records:
        response.answer.append(dns.rrset.from_text(name, 60, "IN", rdtype, *records))
    elif not any(known == name for known, _ in DNS_RECORDS):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


class _DnsUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(dns_answer(data), addr)  # type: ignore[attr-defined]


async def _dns_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    answer = dns_answer(await reader.readexactly(size))
    writer.write(struct.pack("!H", len(answer)) + answer)
    await writer.drain()


@dataclass
class DnsServer:
    udp: str  # "127.0.0.1:port"
    tcp: str


@pytest.fixture
async def dns_server(serve: Callable[..., Awaitable[Server]]) -> AsyncIterator[DnsServer]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _DnsUdp, local_addr=("127.0.0.1", 0)
    )
    tcp_server = await serve(_dns_tcp)
    yield DnsServer(f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", f"127.0.0.1:{tcp_server.port}")
    transport.close()
