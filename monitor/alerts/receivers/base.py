"""What every receiver shares: the config fields all kinds have (and the `tls:` block of those
that post over HTTP), the notification a `send` gets, the error it raises, and the HTTP posting
helper that classifies failures. No routing, no retries (the sender owns them), no storage."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.alerts.templates import check_template
from monitor.redact import MIN_SECRET_CHARS, REDACTED, model_secrets, redact_data
from probes.base import Duration, os_error_reason
from probes.clients import client_ssl_context
from probes.tls_client import TlsSettings, tls_error_reason

__all__ = [
    "DeliveryError",
    "HttpReceiverBase",
    "Notification",
    "ReceiverBase",
    "ReceiverTls",
    "TemplateConfig",
    "post_json",
]

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

    def secret_values(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Secret value → replacement, for delivery errors and the log: `model_secrets` (secret
        fields, URL passwords and tokens, `env`'s values) plus the key in a chat robot's URL path."""
        secrets = model_secrets(self, env)
        url = getattr(self, "url", None)
        if self.url_path_is_secret and isinstance(url, str):
            path = urlsplit(url).path.strip("/")
            if len(path) >= MIN_SECRET_CHARS:
                secrets[path] = REDACTED
        return secrets

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


class ReceiverTls(TlsSettings):
    """TLS towards a receiver: the probes' settings (`verify`, `ca_file` replacing the default
    trust, `cert_file`/`key_file` for mutual TLS) plus `server_name`. The files are read when
    the config loads, so a bad path or PEM fails `platform-monitor validate`, not an alert."""

    server_name: str | None = Field(default=None, min_length=1)
    """Name sent as SNI and checked against the certificate instead of the URL's host."""

    @field_validator("ca_file")
    @classmethod
    def _ca_loads(cls, value: str | None) -> str | None:
        if value is not None:
            _readable(value)
            try:
                client_ssl_context(ca_file=value)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{value}: not a PEM bundle of CA certificates ({_ssl_words(exc)})") from None
        return value

    @field_validator("cert_file", "key_file")
    @classmethod
    def _pem_readable(cls, value: str | None) -> str | None:
        if value is not None:
            text = _readable(value)
            if "ENCRYPTED" in text:  # OpenSSL would ask for the pass phrase on the terminal
                raise ValueError(f"{value}: the private key is encrypted; store it decrypted (mode 0600)")
        return value

    @model_validator(mode="after")
    def _client_certificate_loads(self) -> ReceiverTls:
        if not self.cert_file:
            return self  # key_file without cert_file: refused by TlsSettings
        cert_text = _readable(self.cert_file)
        if "CERTIFICATE-----" not in cert_text:
            raise ValueError(f"tls.cert_file: {self.cert_file} holds no PEM certificate")
        if self.key_file is None and "PRIVATE KEY-----" not in cert_text:
            raise ValueError(f"tls.cert_file: {self.cert_file} holds no private key; set tls.key_file")
        if self.key_file is not None and "PRIVATE KEY-----" not in _readable(self.key_file):
            raise ValueError(f"tls.key_file: {self.key_file} holds no PEM private key")
        try:
            client_ssl_context(cert_file=self.cert_file, key_file=self.key_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"tls.cert_file and tls.key_file: cannot use them together ({_ssl_words(exc)})") from None
        return self


def _readable(path: str) -> str:
    """The text of a small PEM file, or a ValueError saying why it cannot be read."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no such file: {path}" if not file.exists() else f"not a file: {path}")
    try:
        return file.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def _ssl_words(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    return getattr(exc, "strerror", None) or str(exc)


class HttpReceiverBase(ReceiverBase):
    """A receiver that posts over HTTP(S) through the sender's shared clients (one per `tls`
    setting)."""

    tls: ReceiverTls = Field(default_factory=ReceiverTls)


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
    reason = tls_error_reason(exc) or os_error_reason(exc)
    if reason:
        return reason
    if isinstance(exc, httpx.ReadError) and not str(exc):
        # What a TLS 1.3 server that wants a client certificate often looks like: its alert
        # comes after the handshake and the connection breaks with no detail left.
        return "connection lost before the answer (ReadError)"
    return type(exc).__name__


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
    except (httpx.HTTPError, OSError) as exc:  # httpx lets a TLS alert arriving after the handshake through raw
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
