"""What every receiver shares: the config fields all kinds have, the notification a `send`
gets, the error it raises, and the HTTP posting helper that classifies failures. No routing,
no retries (the sender owns them), no storage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.alerts.templates import check_template
from monitor.redact import REDACTED, redact_data
from probes.base import Duration, os_error_reason

__all__ = ["DeliveryError", "Notification", "ReceiverBase", "TemplateConfig", "post_json"]

RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
ERROR_BODY_CHARS = 200  # how much of a refusal's body goes into the recorded reason


class TemplateConfig(BaseModel):
    """Jinja2 templates (sandboxed) over the event payload; unset ones use the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    text: str | None = None

    @field_validator("title", "text")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value)
        return value


class ReceiverBase(BaseModel):
    """Settings every receiver has. Each module in this package subclasses it as `Receiver`
    with its own `kind` literal and fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
    url_path_is_secret: ClassVar[bool] = False
    """Chat robots put their key in the URL path (Slack, Feishu): only scheme and host are shown."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: str
    timeout: Annotated[Duration, Field(gt=0)] = 10.0
    rate_limit: int | None = Field(default=None, ge=1)
    """At most this many messages per minute (sliding window); None: no limit."""
    send_resolved: bool = True
    template: TemplateConfig | None = None

    def redacted(self, secrets: dict[str, str] | None = None) -> dict[str, Any]:
        """The settings as the API shows them: secrets, keys in URLs and env values replaced."""
        data = self.model_dump(mode="json")
        for name in self.secret_fields:
            value = data.get(name)
            if isinstance(value, dict):
                data[name] = {k: REDACTED for k in value}
            elif isinstance(value, list):
                data[name] = [REDACTED for _ in value]
            elif value not in (None, ""):
                data[name] = REDACTED
        if self.url_path_is_secret and isinstance(data.get("url"), str):
            parts = urlsplit(data["url"])
            data["url"] = f"{parts.scheme}://{parts.netloc}/{REDACTED}"
        return redact_data(data, secrets)


@dataclass(frozen=True, slots=True)
class Notification:
    """One event for one receiver: the versioned payload (docs/alert-webhook.md) and the
    receiver's rendered title and markdown text."""

    payload: Mapping[str, Any]
    title: str
    text: str


class DeliveryError(Exception):
    """A send that did not deliver. `retryable`: the sender tries again later (network errors,
    5xx, throttling); otherwise the notification is rejected for good (bad URL, bad key)."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def transport_reason(exc: BaseException) -> str:
    """A short reason for a failed request that never shows the URL (it may hold a key)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return os_error_reason(exc) or type(exc).__name__


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    request_timeout: float,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST `body` as JSON (or the exact `content` bytes); a 2xx response is returned, anything
    else raises DeliveryError, retryable for network errors, 5xx and throttling."""
    data = content if content is not None else json.dumps(body, ensure_ascii=False).encode()
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        response = await client.post(url, content=data, headers=all_headers, timeout=request_timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(transport_reason(exc)) from None
    if response.is_success:
        return response
    snippet = response.text[:ERROR_BODY_CHARS].strip()
    reason = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    raise DeliveryError(reason, retryable=response.status_code in RETRYABLE_HTTP)


def response_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a chat API answers with; a non-JSON answer is a (retryable) error."""
    try:
        data = response.json()
    except ValueError:
        raise DeliveryError(f"not a JSON answer: {response.text[:ERROR_BODY_CHARS]!r}") from None
    if not isinstance(data, dict):
        raise DeliveryError(f"unexpected answer: {response.text[:ERROR_BODY_CHARS]!r}")
    return data
