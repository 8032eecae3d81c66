"""Credentials in a check's URL (`http://user:password@host/`) against a real server that checks
the Authorization header: sent as Basic auth (percent-decoded), kept on the same origin, dropped
on a redirect elsewhere, and never shown in a reason, the details or the log."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from monitor.redact import RedactingFilter
from monitor.runner import Runner
from monitor.state import StateMachine
from probes import flow, http
from probes.base import ProbeContext, Result, Status
from tests.probes.conftest import BASIC_PASSWORD, BASIC_USER, Request, _read_request, respond

Server = Any  # conftest's type

WRONG_PASSWORD = "wr0ng-p@ss"


def credentials_url(server: Server, path: str, password: str = BASIC_PASSWORD) -> str:
    return f"http://{quote(BASIC_USER, safe='')}:{quote(password, safe='')}@127.0.0.1:{server.port}{path}"


@pytest.fixture(autouse=True)
def service_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The log filter the service installs on every handler (httpx logs each request's URL)."""
    caplog.set_level(logging.DEBUG)
    no_known_secrets: dict[str, str] = {}
    log_filter = RedactingFilter(lambda: no_known_secrets)
    handlers = log_filter.install()
    caplog.handler.addFilter(log_filter)
    yield
    log_filter.uninstall([*handlers, caplog.handler])


async def run(check: Any, ctx: ProbeContext) -> Result:
    """Through the runner, as the service runs it: that is where results are redacted."""
    return await Runner(StateMachine(), ctx, concurrency=1).execute(check)


def assert_no_password(result: Result, caplog: pytest.LogCaptureFixture, password: str) -> None:
    shown = [result.reason, repr(result.details), caplog.text]
    for secret in (password, quote(password, safe="")):
        assert not any(secret in text for text in shown), shown


async def test_url_credentials_are_sent_as_basic_auth(
    http_server: Server, ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    check = http.Check(name="web", component="test", url=credentials_url(http_server, "/basic"))
    result = await run(check, ctx)
    assert result.status is Status.UP, result.reason
    assert result.reason == "HTTP 200"
    assert result.details["url"] == f"http://robot:<redacted>@127.0.0.1:{http_server.port}/basic"
    assert_no_password(result, caplog, BASIC_PASSWORD)


async def test_wrong_url_credentials_are_down_and_the_echo_is_redacted(
    http_server: Server, ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    url = credentials_url(http_server, "/basic", WRONG_PASSWORD)
    plain = http.Check(name="web", component="test", url=url)
    result = await run(plain, ctx)
    assert (result.status, result.reason) == (Status.DOWN, "HTTP 401 (expected 2xx)")
    assert_no_password(result, caplog, WRONG_PASSWORD)

    # The server quotes the header back and the expectation quotes the server: still redacted.
    echoing = http.Check(name="web", component="test", url=url,
                         expect={"status": [401], "json": [{"path": "authorization", "equals": "nobody"}]})
    result = await run(echoing, ctx)
    assert result.status is Status.DOWN
    assert result.reason == "JSONPath `authorization` = 'Basic <redacted>' (expected 'nobody')"
    assert_no_password(result, caplog, WRONG_PASSWORD)


async def test_same_origin_redirect_keeps_the_credentials(http_server: Server, ctx: ProbeContext) -> None:
    check = http.Check(name="web", component="test", url=credentials_url(http_server, "/basic/again"))
    result = await run(check, ctx)
    assert (result.status, result.reason, result.details["redirects"]) == (Status.UP, "HTTP 200", 1)


async def test_redirect_to_another_origin_drops_the_credentials(
    http_server: Server, serve: Any, ctx: ProbeContext
) -> None:
    seen: list[Request] = []

    async def landing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        if request is not None:
            seen.append(request)
            respond(writer, 200, b"landed")
            await writer.drain()

    elsewhere = await serve(landing)
    check = http.Check(name="web", component="test", url=credentials_url(http_server, f"/redirect-to/{elsewhere.port}"))
    result = await run(check, ctx)
    assert (result.status, result.reason) == (Status.UP, "HTTP 200")
    assert [r.path for r in seen] == ["/landed"]
    assert "authorization" not in seen[0].headers


async def test_flow_step_url_credentials_are_sent_as_basic_auth(http_server: Server, ctx: ProbeContext) -> None:
    good = flow.Check(name="flow", component="test",
                      steps=[{"name": "in", "request": {"url": credentials_url(http_server, "/basic")}}])
    result = await run(good, ctx)
    assert (result.status, result.reason) == (Status.UP, "1 step ok")
    bad = flow.Check(name="flow", component="test", steps=[
        {"name": "in", "request": {"url": credentials_url(http_server, "/basic", WRONG_PASSWORD)}}])
    result = await run(bad, ctx)
    assert (result.status, result.reason) == (Status.DOWN, "step in: HTTP 401 (expected 2xx)")


async def test_an_authorization_header_wins_over_url_credentials(http_server: Server, ctx: ProbeContext) -> None:
    right = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    header_right = http.Check(name="web", component="test", url=credentials_url(http_server, "/basic", WRONG_PASSWORD),
                              headers={"authorization": right})
    assert (await run(header_right, ctx)).reason == "HTTP 200"
    header_wrong = http.Check(name="web", component="test", url=credentials_url(http_server, "/basic"),
                              headers={"Authorization": "Bearer not-this"})
    assert (await run(header_wrong, ctx)).reason == "HTTP 401 (expected 2xx)"
