"""Shared network clients for probes: httpx clients (over an aiohttp transport) and SSL contexts,
cached by their TLS settings. Owns no probe logic; never follows redirects or reads proxy settings
from the environment on its own."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import aiohttp
import certifi
import httpx
import yarl

__all__ = ["USER_AGENT", "AiohttpTransport", "ClientPool", "client_ssl_context", "request_url"]

USER_AGENT = "platform-monitor/0.1"
# Longest header line and header field aiohttp accepts (bytes): its 8 KiB default rejects real
# servers with large cookies that httpx (h11, 100 KiB) accepts.
_MAX_HEADER_BYTES = 65536
# What a response keeps of its connection's transport, read while the connection is still open:
# aiohttp releases it as soon as the body is complete (at once for an empty body).
_TRANSPORT_EXTRA = ("ssl_object", "peername", "sockname")


@dataclass(frozen=True, slots=True)
class _TlsKey:
    verify: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None


class ClientPool:
    """httpx clients and SSL contexts shared by all probe runs, one per distinct TLS setting.

    Create it inside the event loop that will use it; `aclose()` closes every client (and the
    aiohttp sessions beneath them)."""

    def __init__(self) -> None:
        self._ssl: dict[_TlsKey, ssl.SSLContext] = {}
        self._http: dict[tuple[_TlsKey, bool], httpx.AsyncClient] = {}
        self._closed = False

    def ssl_context(
        self,
        *,
        verify: bool = True,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> ssl.SSLContext:
        """A client SSL context for these settings (`client_ssl_context`), built once and cached:
        building reads the files once per setting (small local files, a few ms); a missing or bad
        file raises and is not cached."""
        key = _TlsKey(verify, ca_file, cert_file, key_file)
        context = self._ssl.get(key)
        if context is None:
            context = self._ssl[key] = client_ssl_context(
                verify=verify, ca_file=ca_file, cert_file=cert_file, key_file=key_file
            )
        return context

    def http(
        self,
        *,
        verify: bool = True,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        reuse_connections: bool = False,
    ) -> httpx.AsyncClient:
        """A shared httpx client for these TLS settings.

        By default each request opens (and then closes) its own connection, so a broken
        connect path is never hidden by a pooled socket; `reuse_connections` keeps them alive.
        The client follows no redirects unless a request asks, ignores proxy environment
        variables and keeps no cookies between requests."""
        if self._closed:
            raise RuntimeError("ClientPool is closed")
        tls = _TlsKey(verify, ca_file, cert_file, key_file)
        client = self._http.get((tls, reuse_connections))
        if client is None:
            context = self.ssl_context(verify=verify, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
            client = self._http[(tls, reuse_connections)] = _new_http_client(context, reuse_connections)
        return client

    async def aclose(self) -> None:
        """Close every client and its connections; the pool cannot be used afterwards."""
        self._closed = True
        clients, self._http = list(self._http.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients))


def client_ssl_context(
    *,
    verify: bool = True,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> ssl.SSLContext:
    """A new client SSL context. Shared by the probes and the alert receivers so that both
    read `tls:` settings the same way.

    `verify` with no `ca_file` trusts certifi's bundle; a `ca_file` replaces it (trust only
    that CA). `cert_file` (+ `key_file`, unless the key is in the same PEM) is the client
    certificate for mutual TLS. A missing or bad file raises `OSError`/`ssl.SSLError`."""
    if verify:
        context = ssl.create_default_context(cafile=ca_file or certifi.where())
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    elif key_file:
        raise ValueError("a TLS key_file needs a cert_file")
    return context


def request_url(url: str, headers: Mapping[str, str]) -> str | httpx.URL:
    """The URL to request with these headers. Credentials in a URL (`user:password@`) become Basic
    auth (httpx, percent-decoded); an Authorization header given as well wins: the URL goes
    without them (httpx would silently replace the header)."""
    if "@" not in url or not any(name.lower() == "authorization" for name in headers):
        return url
    parsed = httpx.URL(url)
    return parsed.copy_with(userinfo=b"") if parsed.userinfo else url


def _new_http_client(context: ssl.SSLContext, reuse_connections: bool) -> httpx.AsyncClient:
    headers = {"User-Agent": USER_AGENT}
    if not reuse_connections:
        headers["Connection"] = "close"
    return _CookielessClient(
        transport=AiohttpTransport(ssl_context=context, reuse_connections=reuse_connections),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


class _RefusedCookies(httpx.Cookies):
    """Cookies that stay empty: the jar refuses every cookie, and `extract_cookies` does not even
    look (httpx calls it on every response; wrapping each response and its request for urllib's
    cookie machinery only for the jar to refuse what it finds was ~3 % of the CPU per probe)."""

    def __init__(self) -> None:
        super().__init__(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """An httpx client that keeps no cookies: one set by a target must not reach later probes
    (a probe that follows redirects carries its own from hop to hop, in a jar of its own)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refused = _RefusedCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._refused

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("a probe client keeps no cookies")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx transport over one aiohttp session (bench/http_transport.py: about a third of the CPU
    per request of httpx's own transport with a fresh connection per request).

    Raises httpx exceptions chained (`__cause__`) to aiohttp's and the OS's, and puts a stand-in
    for httpcore's network stream in `response.extensions["network_stream"]` whose
    `get_extra_info("ssl_object")` gives the TLS connection's `ssl.SSLObject`."""

    def __init__(self, *, ssl_context: ssl.SSLContext, reuse_connections: bool = False) -> None:
        self._ssl_context = ssl_context
        self._reuse_connections = reuse_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp binds its session to the running loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl_context,
                force_close=not self._reuse_connections,
                limit=0,  # the runner bounds concurrency
                use_dns_cache=False,  # a probe must see a name stop resolving when it does
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                response_class=_Response,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx decodes
                trust_env=False,
                max_line_size=_MAX_HEADER_BYTES,
                max_field_size=_MAX_HEADER_BYTES,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "transfer-encoding"]
        try:
            response = await self._get_session().request(
                request.method,
                _wire_url(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc, request) from exc
        version = response.version
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            request=request,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
                "network_stream": _ConnectionInfo(response.transport_extra),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _wire_url(url: httpx.URL) -> yarl.URL:
    """The URL aiohttp sends to, without `user:password@`: httpx has already turned those into a
    Basic Authorization header (percent-decoded; only for this origin, it drops the header on a
    redirect elsewhere), and aiohttp refuses a request that has both."""
    if url.userinfo:
        url = url.copy_with(userinfo=b"")
    return yarl.URL(str(url), encoded=True)


class _Response(aiohttp.ClientResponse):
    """Remembers its connection's TLS object and addresses before aiohttp releases it."""

    transport_extra: dict[str, Any]

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        self.transport_extra = (
            {name: transport.get_extra_info(name) for name in _TRANSPORT_EXTRA} if transport else {}
        )
        return await super().start(connection)


@dataclass(frozen=True, slots=True)
class _ConnectionInfo:
    extra: dict[str, Any]

    def get_extra_info(self, name: str) -> Any:
        return self.extra.get(name)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc, self._request, in_body=True) from exc

    async def aclose(self) -> None:
        # Closes the connection when the body was not read to its end (or with force_close).
        self._response.release()


# Most specific first: several aiohttp errors subclass others (and TimeoutError).
_ERROR_MAP: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.TimeoutException),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.NetworkError),
)


def _httpx_error(exc: BaseException, request: httpx.Request, in_body: bool = False) -> httpx.TransportError:
    target = next((to for source, to in _ERROR_MAP if isinstance(exc, source)), httpx.TransportError)
    if isinstance(exc, aiohttp.ServerDisconnectedError) and in_body:
        target, message = httpx.ReadError, "Server disconnected before the end of the body."
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        message = "Server disconnected without sending a response."  # httpcore's words for it
    elif isinstance(exc, aiohttp.ClientResponseError):
        message = exc.message  # its str() is "400, message=..., url=..." with a made-up status
    else:
        message = str(exc) or type(exc).__name__
    return target(message, request=request)
