"""A JSON answer sent straight from an ASGI middleware (the request guard, the auth gate), before
or instead of any route. Knows nothing of why it answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send


async def send_json(send: Send, code: int, content: Any, *, close: bool = False,
                    headers: dict[str, str] | None = None) -> None:
    """Send `content` as JSON with `code`; `close` when the client may still be sending a body
    nobody will read (the server then stops receiving it)."""
    body = json.dumps(content).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": body})
