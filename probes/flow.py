"""The `flow` probe: an ordered list of HTTP steps sharing variables (log in, capture a token or an
id, call the next endpoint with it), each judged like an `http` check and timed. The first failing
step ends the run and names itself in the reason; nothing is kept from one run to the next."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import httpx
import jmespath.exceptions
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from probes.base import CheckBase, ProbeContext, Regex, Result, Status, format_duration
from probes.clients import request_url
from probes.http_auth import AuthError, AuthSettings, authorization
from probes.http_expect import Expect, JmesPath, failure_reason, read_body, response_failure
from probes.tls_client import TlsSettings
from probes.variables import NAME_PATTERN, UndefinedVariable, references, render, render_data

__all__ = ["Capture", "Check", "Step", "StepRequest", "probe"]

MIB = 1024 * 1024
AUTH_PHASE = "auth"  # phase name of the OAuth2 token request; no step may take it
MAX_REDIRECTS = 10
# httpx's own timeouts are a backstop: the runner's timeout for the whole flow comes first.
_BACKSTOP_TIMEOUT_FACTOR = 2
_MULTILINE = re.compile(r"[\r\n\0]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


class Capture(_Model):
    """Where a step's variable comes from: a JMESPath into the JSON body, a response header, or
    a regular expression on the body (its first group, or the whole match without groups)."""

    json_: JmesPath | None = Field(default=None, alias="json")
    header: str | None = Field(default=None, min_length=1)
    regex: Regex | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        given = [name for name in ("json_", "header", "regex") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of json, header or regex")
        return self


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class StepRequest(_Model):
    """One request; `{{ name }}` in the URL, header values and bodies takes a captured value."""

    method: Annotated[
        Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], BeforeValidator(_upper)
    ] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    """A JSON body; a string that is exactly `{{ name }}` takes the captured value with its type."""
    body: str | None = None
    form: dict[str, str] | None = None
    """An application/x-www-form-urlencoded body."""
    follow_redirects: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^(https?://|\{\{)", value):
            raise ValueError(f"{value!r}: the URL must start with http://, https:// or a {{{{ variable }}}}")
        return value

    @field_validator("headers")
    @classmethod
    def _single_line_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if _MULTILINE.search(name + text) or not name.strip() or ":" in name:
                raise ValueError(f"header {name!r}: names and values must be single-line text")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> StepRequest:
        bodies = [name for name in ("json", "body", "form") if name in self._given_bodies()]
        if len(bodies) > 1:
            raise ValueError(f"give at most one of json, body or form (got {', '.join(bodies)})")
        return self

    def _given_bodies(self) -> set[str]:
        given = {"json"} if "json_" in self.model_fields_set else set()
        return given | {name for name in ("body", "form") if getattr(self, name) is not None}


class Step(_Model):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    request: StepRequest
    expect: Expect = Field(default_factory=Expect)
    capture: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Capture] = Field(default_factory=dict)
    auth: bool = True
    """Send the check's `auth` with this request (unless it sets its own Authorization header)."""


class Check(CheckBase):
    """Run HTTP steps in order, sharing captured variables; down at the first failing step."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({
        "auth.token", "auth.password", "auth.client_secret",
        "steps.*.request.headers", "steps.*.request.body", "steps.*.request.json", "steps.*.request.form",
    })

    kind: Literal["flow"] = "flow"
    auth: AuthSettings | None = None
    tls: TlsSettings = Field(default_factory=TlsSettings)
    max_body_bytes: int = Field(default=MIB, ge=0, le=64 * MIB)
    """Most body bytes read per step; expectations and captures see what was read."""
    steps: list[Step] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _steps_consistent(self) -> Check:
        errors: list[str] = []
        seen: set[str] = set()
        captured: set[str] = set()
        for i, step in enumerate(self.steps):
            where = f"steps[{i}] ({step.name})"
            if step.name in seen:
                errors.append(f"{where}.name: another step has this name")
            if step.name == AUTH_PHASE:
                errors.append(f"{where}.name: {AUTH_PHASE!r} is reserved for the token request's timing")
            seen.add(step.name)
            request = step.request.model_dump(by_alias=True, exclude_none=True)
            for place, name in references(request, "request"):
                if name not in captured:
                    errors.append(f"{where}.{place}: variable {name!r} is not captured by an earlier step")
            captured.update(step.capture)
        if errors:
            raise ValueError("; ".join(errors))
        return self


class StepFailed(Exception):
    """A step that ends the run; the message is the reason (without the step's name)."""


@dataclass(slots=True)
class _Run:
    cfg: Check
    client: httpx.AsyncClient
    values: dict[str, Any] = field(default_factory=dict)
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)  # this run's session only
    phases: dict[str, float] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    authorization: str | None = None

    def details(self) -> dict[str, Any]:
        return {"steps": self.steps, "phases": dict(self.phases)}


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Run every step in order; down at the first failing one, degraded if a step was slower than
    its `expect.max_latency`. details: `steps` (name, status code, latency, outcome), `phases`."""
    try:
        client = ctx.clients.http(**cfg.tls.model_dump())
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    run = _Run(cfg, client)
    if cfg.auth is not None and any(step.auth for step in cfg.steps):
        started = time.perf_counter()
        try:
            run.authorization = await authorization(cfg.auth, client, backstop=_backstop(cfg))
        except AuthError as exc:
            return Result.down(f"auth: {exc}", **run.details())
        finally:
            if cfg.auth.kind == "oauth2_client_credentials":
                run.phases[AUTH_PHASE] = round(time.perf_counter() - started, 6)
    slow: list[str] = []
    for step in cfg.steps:
        outcome = await _run_step(run, step)
        if outcome.status is Status.DOWN:
            return Result.down(f"step {step.name}: {outcome.reason}", **run.details())
        if outcome.status is Status.DEGRADED:
            slow.append(f"step {step.name} {outcome.reason}")
    if slow:
        return Result.degraded("; ".join(slow), **run.details())
    return Result.up(f"{len(cfg.steps)} step{'s' if len(cfg.steps) != 1 else ''} ok", **run.details())


def _backstop(cfg: Check) -> float:
    return cfg.timeout * _BACKSTOP_TIMEOUT_FACTOR


async def _run_step(run: _Run, step: Step) -> Result:
    """One step: send, judge, capture. Records the step in `run` whatever happens."""
    record: dict[str, Any] = {"name": step.name}
    run.steps.append(record)
    started = time.perf_counter()
    try:
        request = _build_request(run, step)
        response, body, truncated = await _send(run, step, request)
    except UndefinedVariable as exc:
        outcome = Result.down(f"variable {exc.name!r} is undefined")
    except StepFailed as exc:
        outcome = Result.down(str(exc))
    except httpx.HTTPError as exc:
        outcome = Result.down(failure_reason(exc))
    else:
        record["status_code"] = response.status_code
        outcome = _judge(run, step, response, body, truncated, time.perf_counter() - started)
    finally:
        run.phases[step.name] = record["latency"] = round(time.perf_counter() - started, 6)
    record["result"] = outcome.status.value if outcome.status is Status.UP else outcome.reason
    return outcome


def _build_request(run: _Run, step: Step) -> httpx.Request:
    spec = step.request
    headers = {name: render(value, run.values) for name, value in spec.headers.items()}
    for name, value in headers.items():
        if _MULTILINE.search(value):  # a captured value must not smuggle in a header of its own
            raise StepFailed(f"header {name}: the value with its variables filled in is not single-line text")
    if run.authorization is not None and step.auth and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = run.authorization
    kwargs: dict[str, Any] = {}
    if "json_" in spec.model_fields_set:
        kwargs["json"] = render_data(spec.json_, run.values)
    elif spec.body is not None:
        kwargs["content"] = render(spec.body, run.values).encode()
    elif spec.form is not None:
        kwargs["data"] = {name: render(value, run.values) for name, value in spec.form.items()}
    url = render(spec.url, run.values)
    try:
        request = run.client.build_request(
            spec.method, request_url(url, headers), headers=headers, timeout=_backstop(run.cfg), **kwargs
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise StepFailed(f"invalid URL {url!r}: {exc}") from None
    if request.url.scheme not in ("http", "https") or not request.url.host:
        raise StepFailed(f"invalid URL {url!r}: not an http(s) URL with a host")
    return request


async def _send(run: _Run, step: Step, request: httpx.Request) -> tuple[httpx.Response, bytes, bool]:
    """Send with the run's cookies, following redirects if the step asks; read the capped body."""
    redirects = 0
    while True:
        run.cookies.set_cookie_header(request)
        response = await run.client.send(request, stream=True, follow_redirects=False)
        try:
            run.cookies.extract_cookies(response)
            next_request = response.next_request
            if step.request.follow_redirects and next_request is not None:
                if redirects >= MAX_REDIRECTS:
                    raise StepFailed(f"too many redirects (more than {MAX_REDIRECTS})")
                redirects += 1
                request = next_request
                continue
            body, truncated = await read_body(response, run.cfg.max_body_bytes)
            return response, body, truncated
        finally:
            await response.aclose()


def _judge(run: _Run, step: Step, response: httpx.Response, body: bytes, truncated: bool, latency: float) -> Result:
    failure = response_failure(step.expect, response, body, truncated)
    if failure:
        return Result.down(failure)
    for name, capture in step.capture.items():
        value = _capture(capture, response, body)
        if isinstance(value, _Missing):
            return Result.down(f"capture {name}: {value.reason}")
        run.values[name] = value
    limit = step.expect.max_latency
    if limit is not None and latency > limit:
        return Result.degraded(f"slow: {format_duration(round(latency, 3))} (max_latency {format_duration(limit)})")
    return Result.up()


@dataclass(frozen=True, slots=True)
class _Missing:
    reason: str


def _capture(capture: Capture, response: httpx.Response, body: bytes) -> Any:
    if capture.header is not None:
        value = response.headers.get(capture.header)
        return _Missing(f"header {capture.header} missing") if value is None else value
    text = body.decode(response.encoding or "utf-8", "replace")
    if capture.regex is not None:
        match = capture.regex.search(text)
        if match is None:
            return _Missing(f"body does not match /{capture.regex.pattern}/")
        return match.group(1) if capture.regex.groups else match.group(0)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return _Missing("body is not valid JSON")
    try:
        value = capture.json_.search(data)
    except jmespath.exceptions.JMESPathError as exc:  # e.g. a function given the wrong type
        return _Missing(f"JSONPath `{capture.json_}`: {exc}")
    return _Missing(f"JSONPath `{capture.json_}` found nothing") if value is None else value
