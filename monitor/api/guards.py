"""What every request passes before any route sees it (after monitor.auth.gate, which decides who
may make it before any body is read): bodies capped, text parameters (query, path, JSON body) free
of NUL and lone surrogates; and what every answer passes: 422s that never echo more than a short
excerpt of the input, JSON that renders whatever a stored row holds. Routes decide nothing here."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.asgi_json import send_json

MAX_BODY_BYTES = 1024 * 1024
"""1 MiB: the largest body any route takes (a silence, a maintenance window, an ack) is a few KiB;
anything bigger is a mistake or an attack, refused (413) before it costs memory."""
INPUT_EXCERPT_CHARS = 80  # a 422 shows this much of a bad value, never the whole body
MSG_EXCERPT_CHARS = 300  # some messages quote the value (`'…' is not a duration`): cut them too
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AGENT_PATHS = "/api/v1/agent/"
"""Remote agents' routes (monitor.api.agents): each agent authenticates with its own token there,
and a pushed batch may be larger (monitor.remote.gateway.MAX_BODY_BYTES)."""
AGENT_MAX_BODY_BYTES = 4 * 1024 * 1024
BAD_TEXT = "text must be UTF-8 without NUL characters or lone surrogates"
REPLACEMENT = "\ufffd"


def bad_text(value: str) -> bool:
    """True when `value` holds a NUL or a lone surrogate: neither can be stored or sent as UTF-8."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD: what a stored bad row renders as."""
    if not bad_text(value):
        return value
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", REPLACEMENT)


def _problem(loc: list[Any]) -> dict[str, Any]:
    return {"loc": loc, "msg": BAD_TEXT, "type": "string_invalid_characters"}


def _bad_raw(raw: bytes) -> bool:
    try:
        return "\x00" in raw.decode("utf-8")
    except UnicodeDecodeError:
        return True


def _query_problem(query_string: bytes) -> dict[str, Any] | None:
    for pair in query_string.split(b"&"):
        name, _, value = pair.replace(b"+", b" ").partition(b"=")
        raw_name, raw_value = unquote_to_bytes(name), unquote_to_bytes(value)
        if _bad_raw(raw_name) or _bad_raw(raw_value):
            return _problem(["query", printable(raw_name.decode("utf-8", "replace"))])
    return None


def _path_problem(scope: Scope) -> dict[str, Any] | None:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    if not _bad_raw(unquote_to_bytes(raw.split(b"?", 1)[0])):
        return None
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, child = route.matches(scope)
        if match is Match.FULL:
            for name, value in child.get("path_params", {}).items():
                if isinstance(value, str) and (REPLACEMENT in value or "\x00" in value):
                    return _problem(["path", name])
    return _problem(["path"])


def _body_problem(body: Any) -> dict[str, Any] | None:
    """The first bad string (key or value) in a decoded JSON body, walked without recursion (a
    deeply nested body must not exhaust the stack here)."""
    stack: list[tuple[list[Any], Any]] = [(["body"], body)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            if bad_text(value):
                return _problem(loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                if bad_text(key):
                    return _problem([*loc, printable(key)])
                stack.append(([*loc, key], item))
        elif isinstance(value, list):
            stack.extend(([*loc, i], item) for i, item in enumerate(value))
    return None


class RequestGuard:
    """Pure ASGI middleware, just inside the auth gate: nothing has read the body when it decides.
    Order: a query or path string with NUL, a lone surrogate or non-UTF-8 bytes is a 422 naming
    it; a body over MAX_BODY_BYTES is a 413 (Content-Length up front, chunked bodies counted while
    they arrive); a JSON body with such strings is a 422 naming the field."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        agent_path = path.startswith(AGENT_PATHS)
        limit = AGENT_MAX_BODY_BYTES if agent_path else MAX_BODY_BYTES
        if agent_path:  # (the auth gate leaves these to the agents' own tokens)
            refusal = _agent_refusal(scope, headers)
            if refusal is not None:
                code, body, extra = refusal
                await send_json(send, code, body, close=method in WRITE_METHODS, headers=extra)
                return
        problem = _path_problem(scope) or _query_problem(scope.get("query_string", b""))
        if problem is not None:
            await send_json(send, 422, {"detail": [problem]}, close=method in WRITE_METHODS)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            if not length.isdigit():
                await send_json(send, 400, {"detail": "Content-Length is not a number"}, close=True)
            else:
                await _too_large(send)
            return
        if method not in WRITE_METHODS:
            await self.app(scope, _Counted(receive), send)
            return
        body = await _read_capped(receive, limit)
        if body is None:
            await _too_large(send)
            return
        if "json" in headers.get("content-type", "json"):
            problem = _json_problem(body)
            if problem is not None:
                await send_json(send, 422, {"detail": [problem]})
                return
        await self.app(scope, _Replay(body, receive), send)


def _agent_refusal(scope: Scope, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """An agent's request without its token (401) or from an address past its failures (429),
    answered before its body is read (monitor.remote.gateway decides; the route asks again)."""
    service = getattr(getattr(scope.get("app"), "state", None), "service", None)
    if service is None:
        return 503, {"detail": "starting"}, {"retry-after": "5"}
    gateway = service.gateway
    client = scope.get("client")
    address = client[0] if client else ""
    wait = gateway.blocked_for(address)
    if wait:
        gateway.failed(address, "rate_limited")
        return 429, {"detail": "too many failed authentications from this address"}, {
            "retry-after": str(int(wait + 0.999))}
    header = headers.get("authorization", "")
    if gateway.authenticate(header) is None:
        gateway.failed(address, "missing" if not header else "invalid")
        return 401, {"detail": "unauthorized"}, {"www-authenticate": "Bearer"}
    return None


def _json_problem(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None  # the route's own parsing answers (422 or 400)
    return _body_problem(decoded)


async def _read_capped(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class _Replay:
    """`receive` for the app: the body read by the guard, then the client's own messages."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.receive()


class _Counted:
    """`receive` for reads: a body beyond MAX_BODY_BYTES ends as a disconnect (nothing reads it)."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.size = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > MAX_BODY_BYTES:
                return {"type": "http.disconnect"}
        return message


async def _too_large(send: Send) -> None:
    await send_json(send, 413, {"detail": f"the request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)"},
                    close=True)


def _excerpt(value: Any, chars: int = INPUT_EXCERPT_CHARS) -> Any:
    if isinstance(value, str):
        text = printable(value)
        return text if len(text) <= chars else text[:chars] + "…"
    if isinstance(value, int | float | bool) or value is None:
        return value
    return None  # an object or a list: its fields are named by `loc`, never echoed whole


def _safe(value: Any) -> Any:
    """`value` (decoded JSON-like data) with every string printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_safe(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 without the echo: `loc`, `msg`, `type` and a short excerpt of a scalar input."""
    errors = []
    for error in exc.errors():
        out = {"loc": list(error.get("loc", ())), "msg": _excerpt(str(error.get("msg", "")), MSG_EXCERPT_CHARS),
               "type": error.get("type", "")}
        if "input" in error:
            out["input"] = _excerpt(error["input"])
        errors.append(out)
    return SafeJSONResponse({"detail": _safe(jsonable_encoder(errors))}, status_code=422)


class SafeJSONResponse(JSONResponse):
    """The API's JSON: a stored row holding a lone surrogate or NUL (written before input was
    checked) renders with U+FFFD instead of failing the whole answer."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return super().render(_safe(content))

