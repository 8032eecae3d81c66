"""/ping/<token>[/start|/fail|/<exit status>]: where jobs report in (GET or POST, the token is
the only credential). Public by design, like the health endpoints: bounded by the request
guard's body cap and a per-token rate limit. Decides nothing about the check's state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from monitor.heartbeats import Heartbeats, ping_body, retry_after
from probes.heartbeat import PingKind

router = APIRouter(tags=["heartbeats"])

_SIGNALS: dict[str, tuple[PingKind, int | None]] = {"": ("success", None), "start": ("start", None),
                                                    "fail": ("fail", None)}
_SIGNALS.update({str(n): ("success" if n == 0 else "fail", n) for n in range(256)})


def _text(status: int, text: str, **headers: str) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status_code=status, headers=headers or None)


@router.api_route("/ping/{token}", methods=["GET", "POST"], include_in_schema=False)
async def ping(token: str, request: Request) -> PlainTextResponse:
    """The job ran and succeeded."""
    return await _ping(request, token, "")


@router.api_route("/ping/{token}/{signal}", methods=["GET", "POST"], include_in_schema=False)
async def ping_signal(token: str, signal: str, request: Request) -> PlainTextResponse:
    """`start`: a run began; `fail`: it failed; `0`-`255`: it ended with that exit status."""
    return await _ping(request, token, signal)


async def _ping(request: Request, token: str, signal: str) -> PlainTextResponse:
    heartbeats: Heartbeats = request.app.state.service.heartbeats
    check = heartbeats.find(token)
    if check is None:
        return _text(404, "not found")
    meaning = _SIGNALS.get(signal)
    if meaning is None:
        return _text(404, "not found: use /ping/<token>, /start, /fail or /<exit status 0-255>")
    kind, exit_status = meaning
    wait = heartbeats.admit(check, kind)
    if wait:
        return _text(429, "too many pings", **{"Retry-After": retry_after(wait)})
    body = ping_body(await request.body())  # at most the guard's cap (1 MiB) is ever read
    if not await heartbeats.receive(check, kind, exit_status, body):
        return _text(503, "ping not stored: the database does not answer; retry")
    return _text(200, "OK")
