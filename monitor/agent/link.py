"""The agent's link to the centre: one httpx client (bearer token, private CA, timeouts), the two
requests of the protocol (docs/agents.md) and what each answer means. Sends what it is given and
reports the answer; deciding what to do about it (forget, retry, wait) is the caller's."""

from __future__ import annotations

import email.utils
import enum
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to the centre
REQUEST_TIMEOUT = 15.0  # seconds for a request beyond any long-poll wait
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between tries while the centre is away or failing
UNAUTHORIZED_RETRY = 10.0
"""Seconds between tries while the centre refuses the token: a fix on the centre's side (a token
added or corrected in its config) is picked up without a restart, without hammering it."""
RETRY_AFTER_MAX = 300.0  # seconds: a longer Retry-After is capped (the agent's own buffer is at stake)


class Outcome(enum.StrEnum):
    """One answer of the centre, as the agent acts on it (the `outcome` label of its pushes)."""

    OK = "ok"  # 200
    NOT_MODIFIED = "not_modified"  # 304 to a long poll: the assignment did not change
    REFUSED = "refused"  # 403: results of checks not assigned to this agent
    TOO_LARGE = "too_large"  # 413
    UNAUTHORIZED = "unauthorized"  # 401, or a 403 that names no refused check
    THROTTLED = "throttled"  # 429
    REJECTED = "rejected"  # 422 and other 4xx: the centre will not take this request as it is
    UNAVAILABLE = "unavailable"  # 5xx
    UNREACHABLE = "unreachable"  # no answer: connection refused, reset, timed out, TLS failure


@dataclass(slots=True)
class Answer:
    outcome: Outcome
    status: int | None
    reason: str  # one line for the log
    sent: float  # this machine's clock when the request left
    received: float  # and when its answer was read
    body: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None
    retry_after: float | None = None

    @property
    def server_time(self) -> float | None:
        value = self.body.get("server_time")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Link:
    """The client of one agent: `server` is the centre's base URL, `token` the agent's secret."""

    def __init__(self, server: str, token: str, *, ca_file: str | None = None) -> None:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._client = httpx.AsyncClient(
            base_url=server.rstrip("/"), verify=verify, follow_redirects=False,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "platform-monitor-agent"},
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    async def fetch(self, version: str | None, wait: float) -> Answer:
        """`GET /api/v1/agent/checks`: with `version`, held up to `wait` seconds until the
        assignment changes (`NOT_MODIFIED` if it did not)."""
        headers = {"If-None-Match": f'"{version}"'} if version else {}
        return await self._request("GET", "/api/v1/agent/checks", params={"wait": f"{wait:g}"}, headers=headers,
                                   timeout=httpx.Timeout(wait + REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT))

    async def push(self, body: dict[str, Any]) -> Answer:
        """`POST /api/v1/agent/results` with one batch."""
        return await self._request("POST", "/api/v1/agent/results", json=body)

    async def discovered(self, source: str, checks: list[dict[str, Any]]) -> Answer:
        """`POST /api/v1/agent/discovered`: the checks a cluster's discovery found here."""
        return await self._request("POST", "/api/v1/agent/discovered", json={"source": source, "checks": checks})

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Answer:
        sent = time.time()
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Answer(Outcome.UNREACHABLE, None, _error_text(exc), sent, time.time())
        received = time.time()
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        answer = Answer(_outcome(response.status_code, body), response.status_code, "", sent, received, body,
                        _etag(response.headers.get("ETag")), _retry_after(response.headers.get("Retry-After")))
        detail = body.get("detail")
        answer.reason = f"{response.status_code} {response.reason_phrase}" + (
            f": {str(detail)[:200]}" if detail else "")
        return answer


def _outcome(status: int, body: dict[str, Any]) -> Outcome:
    if status == 200:
        return Outcome.OK
    if status == 304:
        return Outcome.NOT_MODIFIED
    if status == 401:
        return Outcome.UNAUTHORIZED
    if status == 403:
        return Outcome.REFUSED if isinstance(body.get("refused"), list) and body["refused"] else Outcome.UNAUTHORIZED
    if status == 413:
        return Outcome.TOO_LARGE
    if status == 429:
        return Outcome.THROTTLED
    if status >= 500:
        return Outcome.UNAVAILABLE
    return Outcome.REJECTED


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.removeprefix("W/").strip('"')


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110: a number of seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _error_text(exc: httpx.HTTPError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Backoff:
    """Waits between tries after failures: BACKOFF_FIRST, doubled each time up to BACKOFF_MAX;
    `reset` after a success."""

    def __init__(self, first: float = BACKOFF_FIRST, most: float = BACKOFF_MAX) -> None:
        self.first, self.most = first, most
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.most)
        return delay

    def reset(self) -> None:
        self._next = self.first


def delay_after(answer: Answer, backoff: Backoff) -> float:
    """Seconds to wait before the next try after a failed request."""
    if answer.outcome is Outcome.UNAUTHORIZED:
        return UNAUTHORIZED_RETRY
    if answer.outcome is Outcome.THROTTLED and answer.retry_after is not None:
        return answer.retry_after
    return backoff.next()
