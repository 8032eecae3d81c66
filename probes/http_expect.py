"""What an HTTP exchange is judged on, shared by the `http` and `flow` kinds and the probers that
read an HTTP answer (node_exporter, the OAuth token request): the `expect:` models, reading a body
within a cap, the first unmet expectation as a reason, and the reason for a request that got no
usable response. Not a probe kind; no request of its own."""

from __future__ import annotations

import json
import re
from contextlib import aclosing
from typing import Annotated, Any

import httpx
import jmespath
import jmespath.exceptions
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import core_schema

from probes.base import Duration, Regex, os_error_reason
from probes.tls_client import tls_error_reason

__all__ = ["MIB", "Expect", "JmesPath", "JsonExpectation", "failure_reason", "read_body", "response_failure"]

MIB = 1024 * 1024
_SHOWN_CHARS = 80  # of a value quoted in a reason
BACKSTOP_TIMEOUT_FACTOR = 2
"""httpx's own timeouts are a backstop for runs outside the runner: the runner's
asyncio.timeout(check.timeout) always fires first, and says "timeout after Ns"."""


class JmesPath:
    """A JMESPath expression (https://jmespath.org), compiled when the config is loaded; equal by
    its text, serialized as its text."""

    __slots__ = ("_parsed", "expression")

    def __init__(self, expression: str) -> None:
        try:
            self._parsed = jmespath.compile(expression)
        except jmespath.exceptions.JMESPathError as exc:
            detail = str(exc).splitlines()[0].removesuffix(", for expression:").rstrip(":")
            detail = re.sub(r"^(Invalid|Bad) jmespath expression:\s*", "", detail)
            raise ValueError(f"{expression!r} is not a valid JMESPath expression: {detail}") from None
        self.expression = expression

    def search(self, data: Any) -> Any:
        return self._parsed.search(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JmesPath) and other.expression == self.expression

    def __hash__(self) -> int:
        return hash(self.expression)

    def __str__(self) -> str:
        return self.expression

    def __repr__(self) -> str:
        return f"JmesPath({self.expression!r})"

    @classmethod
    def _validate(cls, value: Any) -> JmesPath:
        if isinstance(value, JmesPath):
            return value
        if not isinstance(value, str):
            raise ValueError("a JMESPath expression (string) is expected")
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


class JsonExpectation(BaseModel):
    """One assertion on the JSON body at a JMESPath, e.g. `status` or `checks[?name=='db'] | [0].ok`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: JmesPath
    equals: Any = None
    """The value found must equal this (JSON types: `true` is not `1`); set it to `null` to
    expect null. Unset: not compared."""
    exists: bool = True
    """`true`: the path must find a value (not null). `false`: it must find nothing."""
    regex: Regex | None = None
    """The value found (a string, or the JSON text of any other value) must match (searched)."""

    @model_validator(mode="after")
    def _consistent(self) -> JsonExpectation:
        if not self.exists and ("equals" in self.model_fields_set or self.regex is not None):
            raise ValueError("exists: false cannot be combined with equals or regex")
        return self

    @model_serializer(mode="wrap")
    def _omit_unset_equals(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An unset `equals` (do not compare) must not come back as `equals: null` (expect null).
        data = handler(self)
        if "equals" not in self.model_fields_set:
            data.pop("equals", None)
        return data


class Expect(BaseModel):
    """What the final response must look like. The first unmet expectation is the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)

    status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(default=None, min_length=1)
    """Accepted status codes of the final response (after any redirects followed); default 2xx."""
    headers: dict[str, Regex] = Field(default_factory=dict)
    """Headers that must be present, each value matching the regular expression given (searched,
    not anchored, so plain text means "contains"). Names are case-insensitive; a repeated header
    is matched as its values joined with ", "."""
    body_contains: str | None = Field(default=None, min_length=1)
    body_not_contains: str | None = Field(default=None, min_length=1)
    body_regex: Regex | None = None
    json_: list[JsonExpectation] = Field(default_factory=list, alias="json")
    """Assertions on the body parsed as JSON (a body that is not JSON fails them)."""
    max_latency: Duration | None = None
    """Slower than this (request start to body read) → degraded, not down."""


async def read_body(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Up to `cap` bytes of (decoded) body, and whether reading stopped at the cap. Stops even
    on an endless body; the connection is then closed with the response."""
    body = bytearray()
    if cap == 0:
        return b"", False
    async with aclosing(response.aiter_bytes()) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > cap:
                return bytes(body[:cap]), True
    return bytes(body), False


def _status_failure(expect: Expect, status: int) -> str | None:
    if expect.status is None:
        return None if 200 <= status <= 299 else f"HTTP {status} (expected 2xx)"
    if status in expect.status:
        return None
    return f"HTTP {status} (expected {', '.join(map(str, expect.status))})"


def _header_failure(expect: Expect, headers: httpx.Headers) -> str | None:
    for name, pattern in expect.headers.items():
        value = headers.get(name)
        if value is None:
            return f"header {name} missing"
        if not pattern.search(value):
            return f"header {name}: {_show(value)} does not match /{pattern.pattern}/"
    return None


def _body_failure(expect: Expect, body: bytes, encoding: str, truncated: bool) -> str | None:
    if not (expect.body_contains or expect.body_not_contains or expect.body_regex or expect.json_):
        return None
    text = body.decode(encoding, "replace")
    scope = f" (in the first {len(body)} bytes read)" if truncated else ""
    if expect.body_contains is not None and expect.body_contains not in text:
        return f"body does not contain {_show(expect.body_contains)}{scope}"
    if expect.body_not_contains is not None and expect.body_not_contains in text:
        return f"body contains {_show(expect.body_not_contains)}"
    if expect.body_regex is not None and not expect.body_regex.search(text):
        return f"body does not match /{expect.body_regex.pattern}/{scope}"
    if expect.json_:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return f"body is not valid JSON{scope}"
        for item in expect.json_:
            failure = _json_failure(item, data)
            if failure:
                return failure
    return None


def _json_failure(item: JsonExpectation, data: Any) -> str | None:
    where = f"JSONPath `{item.path}`"
    try:
        value = item.path.search(data)
    except jmespath.exceptions.JMESPathError as exc:  # e.g. a function given the wrong type
        return f"{where}: {exc}"
    if not item.exists:
        return None if value is None else f"{where} = {_show(value)} (expected absent)"
    if "equals" in item.model_fields_set:
        if not _json_equal(value, item.equals):
            return f"{where} = {_show(value)} (expected {_show(item.equals)})"
    elif value is None:
        return f"{where} not found"
    if item.regex is not None:
        text = value if isinstance(value, str) else json.dumps(value)
        if not item.regex.search(text):
            return f"{where} = {_show(value)} does not match /{item.regex.pattern}/"
    return None


def _json_equal(a: Any, b: Any) -> bool:
    # In Python True == 1; in JSON they differ.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _show(value: Any) -> str:
    text = "null" if value is None else json.dumps(value) if isinstance(value, bool) else repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def failure_reason(exc: httpx.HTTPError, *, client_cert: bool = True) -> str:
    """`client_cert`: whether a client certificate was configured (see `tls_error_reason`)."""
    reason = tls_error_reason(exc, client_cert=client_cert) or os_error_reason(exc)
    if reason:
        return reason
    if isinstance(exc, httpx.TooManyRedirects):
        return str(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "disconnected without" in str(exc):
            return "connection closed without a response"
        # Parsers explain over several lines (with a caret under the bad byte): keep one.
        first_line = str(exc).strip().splitlines()[0].rstrip(":") if str(exc).strip() else "unparsable"
        return f"invalid HTTP response: {first_line}"
    if isinstance(exc, httpx.DecodingError):
        return f"invalid body encoding: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__} (backstop after {BACKSTOP_TIMEOUT_FACTOR} times the check's timeout)"
    return f"{type(exc).__name__}: {exc}"


# --- the same judgement for other HTTP-based kinds (the flow probe's steps) -----------------------


def response_failure(expect: Expect, response: httpx.Response, body: bytes, truncated: bool) -> str | None:
    """The first unmet expectation (status, headers, body, JSON) of a response whose body was
    read into `body`, as a reason; None when all are met. `max_latency` is the caller's to judge."""
    return (
        _status_failure(expect, response.status_code)
        or _header_failure(expect, response.headers)
        or _body_failure(expect, body, response.encoding or "utf-8", truncated)
    )
