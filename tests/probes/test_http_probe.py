"""The http probe against real local servers: statuses, expectations, redirects, body cap,
broken peers and TLS."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from probes import http
from probes.base import ProbeContext, Status

Pki = Server = Any  # conftest's types (conftest is not importable as a module)


def check(url: str, **settings: Any) -> http.Check:
    return http.Check(name="web", component="test", url=url, **settings)


def url(server: Server, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{path}"


async def test_200_is_up_with_details(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/ok")), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["status_code"] == 200
    assert result.details["http_version"] == "HTTP/1.1"
    assert result.details["body_bytes_read"] == len(b"all ok")
    assert result.details["redirects"] == 0
    assert result.details["url"] == url(http_server, "/ok")
    assert "tls_version" not in result.details
    assert set(result.details["phases"]) == {"headers", "body"}
    assert result.latency is not None and 0 < result.latency < 5


async def test_head_reads_no_body(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/ok"), method="HEAD"), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["body_bytes_read"] == 0


async def test_wrong_status_is_down(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/status/503")), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "HTTP 503 (expected 2xx)"
    assert result.details["status_code"] == 503

    explicit = check(url(http_server, "/status/503"), expect={"status": [200]})
    assert (await http.probe(explicit, ctx)).reason == "HTTP 503 (expected 200)"
    accepted = check(url(http_server, "/status/503"), expect={"status": [503]})
    assert (await http.probe(accepted, ctx)).status is Status.UP


@pytest.mark.parametrize(
    ("expect", "reason"),
    [
        ({"body_contains": "ok"}, None),
        ({"body_contains": "fine"}, "body does not contain 'fine'"),
        ({"body_not_contains": "error"}, None),
        ({"body_not_contains": "all"}, "body contains 'all'"),
        ({"body_regex": r"^all\s+ok$"}, None),
        ({"body_regex": r"^ok"}, "body does not match /^ok/"),
        ({"headers": {"x-version": r"^1\.2\."}}, None),
        ({"headers": {"Content-Type": "text/plain"}}, None),
        ({"headers": {"X-Version": "^2"}}, "header X-Version: '1.2.3' does not match /^2/"),
        ({"headers": {"X-Missing": "."}}, "header X-Missing missing"),
    ],
)
async def test_body_and_header_expectations(
    http_server: Server, ctx: ProbeContext, expect: dict[str, Any], reason: str | None
) -> None:
    result = await http.probe(check(url(http_server, "/ok"), expect=expect), ctx)
    if reason is None:
        assert result.status is Status.UP, result.reason
    else:
        assert (result.status, result.reason) == (Status.DOWN, reason)


@pytest.mark.parametrize(
    ("json_expect", "reason"),
    [
        ([{"path": "status", "equals": "green"}], None),
        ([{"path": "status", "equals": "red"}], "JSONPath `status` = 'green' (expected 'red')"),
        ([{"path": "count", "equals": 3}, {"path": "checks[?name=='db'] | [0].ok", "equals": True}], None),
        ([{"path": "checks[0].ok", "equals": 1}], "JSONPath `checks[0].ok` = true (expected 1)"),
        ([{"path": "version", "regex": r"^1\.2\."}], None),
        ([{"path": "version", "regex": "^2"}], "JSONPath `version` = '1.2.3' does not match /^2/"),
        ([{"path": "missing"}], "JSONPath `missing` not found"),
        ([{"path": "missing", "exists": False}], None),
        ([{"path": "status", "exists": False}], "JSONPath `status` = 'green' (expected absent)"),
    ],
)
async def test_json_expectations(
    http_server: Server, ctx: ProbeContext, json_expect: list[dict[str, Any]], reason: str | None
) -> None:
    result = await http.probe(check(url(http_server, "/json"), expect={"json": json_expect}), ctx)
    if reason is None:
        assert result.status is Status.UP, result.reason
    else:
        assert (result.status, result.reason) == (Status.DOWN, reason)


async def test_json_expectation_on_a_body_that_is_not_json(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/ok"), expect={"json": [{"path": "status"}]}), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "body is not valid JSON")


async def test_method_and_body_are_sent(http_server: Server, ctx: ProbeContext) -> None:
    cfg = check(url(http_server, "/echo"), method="post", body="ping", expect={"body_contains": "POST ping"})
    result = await http.probe(cfg, ctx)
    assert result.status is Status.UP, result.reason


async def test_slower_than_max_latency_is_degraded(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/slow"), expect={"max_latency": "100ms"}), ctx)
    assert result.status is Status.DEGRADED
    assert result.reason.startswith("slow: ") and result.reason.endswith("(max_latency 100ms)")
    assert result.latency is not None and result.latency >= 0.3
    fast_enough = check(url(http_server, "/slow"), expect={"max_latency": "5s"})
    assert (await http.probe(fast_enough, ctx)).status is Status.UP


async def test_redirect_followed(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/redirect")), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["redirects"] == 1
    assert result.details["url"] == url(http_server, "/ok")


async def test_redirect_not_followed(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/redirect"), follow_redirects=False), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "HTTP 302 (expected 2xx)")
    assert result.details["redirects"] == 0
    cfg = check(url(http_server, "/redirect"), follow_redirects=False, expect={"status": [301, 302]})
    assert (await http.probe(cfg, ctx)).status is Status.UP


async def test_cookies_carry_across_redirects_but_not_across_runs(http_server: Server, ctx: ProbeContext) -> None:
    login = await http.probe(check(url(http_server, "/login")), ctx)
    assert login.status is Status.UP, login.reason
    assert login.details["url"] == url(http_server, "/private")
    direct = await http.probe(check(url(http_server, "/private")), ctx)
    assert (direct.status, direct.reason) == (Status.DOWN, "HTTP 401 (expected 2xx)")


async def test_too_many_redirects(http_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(http_server, "/loop"), max_redirects=3), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "too many redirects (more than 3)")


async def test_body_cap_stops_an_endless_body(http_server: Server, ctx: ProbeContext) -> None:
    cfg = check(url(http_server, "/endless"), max_body_bytes=100_000)
    async with asyncio.timeout(5):
        result = await http.probe(cfg, ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["body_bytes_read"] == 100_000
    assert result.details["body_truncated"] is True

    cfg = check(url(http_server, "/endless"), max_body_bytes=50_000, expect={"body_contains": "needle"})
    async with asyncio.timeout(5):
        result = await http.probe(cfg, ctx)
    assert (result.status, result.reason) == (
        Status.DOWN,
        "body does not contain 'needle' (in the first 50000 bytes read)",
    )


async def test_slow_drip_body_ends_with_the_runners_timeout(http_server: Server, ctx: ProbeContext) -> None:
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):  # what the runner does with check.timeout
            await http.probe(check(url(http_server, "/drip"), timeout="500ms"), ctx)
    assert time.perf_counter() - started < 2


async def test_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    result = await http.probe(check(f"http://127.0.0.1:{closed_port}/"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


async def test_connection_reset(reset_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(reset_server, "/")), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection reset")


async def test_garbage_reply_is_an_invalid_http_response(garbage_server: Server, ctx: ProbeContext) -> None:
    result = await http.probe(check(url(garbage_server, "/")), ctx)
    assert result.status is Status.DOWN
    assert result.reason.startswith("invalid HTTP response"), result.reason


async def test_untrusted_certificate_is_down(pki: Pki, start_https: Any, ctx: ProbeContext) -> None:
    server = await start_https(pki.server_context())
    result = await http.probe(check(url(server, "/ok", "https")), ctx)
    assert result.status is Status.DOWN
    assert result.reason.startswith("TLS: certificate verify failed: "), result.reason


async def test_trusted_ca_file_is_up_with_tls_details(pki: Pki, start_https: Any, ctx: ProbeContext) -> None:
    server = await start_https(pki.server_context(days=30))
    result = await http.probe(check(url(server, "/ok", "https"), tls={"ca_file": pki.ca_file}), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["tls_version"].startswith("TLS")
    days_left = (result.details["cert_not_after"] - time.time()) / 86400
    assert 29 < days_left <= 30


async def test_verify_off_accepts_an_untrusted_certificate(pki: Pki, start_https: Any, ctx: ProbeContext) -> None:
    server = await start_https(pki.server_context())
    result = await http.probe(check(url(server, "/ok", "https"), tls={"verify": False}), ctx)
    assert result.status is Status.UP, result.reason
    assert "cert_not_after" in result.details


async def test_mutual_tls(pki: Pki, start_https: Any, ctx: ProbeContext) -> None:
    server = await start_https(pki.server_context(require_client_cert=True))
    without = await http.probe(check(url(server, "/ok", "https"), tls={"ca_file": pki.ca_file}), ctx)
    assert without.status is Status.DOWN
    # TLS 1.3 sends the server's "certificate required" alert after the handshake; Python's
    # asyncio SSL transport reports it as a plain close (or a reset, depending on timing).
    assert without.reason in {
        "TLS: server requires a client certificate and none is configured (tls.cert_file)",
        "connection reset",
        "connection closed without a response",
    }, without.reason

    cert_file, key_file = pki.client_cert_files()
    tls = {"ca_file": pki.ca_file, "cert_file": cert_file, "key_file": key_file}
    result = await http.probe(check(url(server, "/ok", "https"), tls=tls), ctx)
    assert result.status is Status.UP, result.reason


async def test_missing_ca_file_is_down_not_raised(http_server: Server, ctx: ProbeContext, tmp_path: Any) -> None:
    cfg = check(url(http_server, "/ok"), tls={"ca_file": str(tmp_path / "nope.pem")})
    result = await http.probe(cfg, ctx)
    assert result.status is Status.DOWN
    assert result.reason.startswith("TLS settings: ")


async def test_connections_are_fresh_unless_reuse(http_server: Server, ctx: ProbeContext) -> None:
    for _ in range(3):
        await http.probe(check(url(http_server, "/ok")), ctx)
    assert http_server.connections == 3
    for _ in range(3):
        await http.probe(check(url(http_server, "/ok"), reuse_connections=True), ctx)
    assert http_server.connections == 4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"surprise": 1}, "surprise"),
        ({"url": "ftp://example.test/"}, "must be http(s)://host"),
        ({"url": "http://"}, "http://"),
        ({"expect": {"body_regex": "(unclosed"}}, "is not a valid regular expression"),
        ({"expect": {"headers": {"X": "[a-"}}}, "is not a valid regular expression"),
        ({"expect": {"json": [{"path": "checks[?"}]}}, "is not a valid JMESPath expression"),
        ({"expect": {"json": [{"path": "a", "exists": False, "equals": 1}]}}, "cannot be combined"),
        ({"expect": {"status": [99]}}, "greater than or equal to 100"),
        ({"expect": {"surprise": 1}}, "surprise"),
        ({"tls": {"key_file": "/k.pem"}}, "key_file needs tls.cert_file"),
        ({"method": "FETCH"}, "method"),
        ({"headers": {"X-Evil": "a\r\nHost: other"}}, "must be single-line text"),
    ],
)
def test_config_is_validated(settings: dict[str, Any], message: str) -> None:
    fields = {"url": "http://example.test/", **settings}
    with pytest.raises(ValidationError) as error:
        http.Check(name="web", component="test", **fields)
    assert message in str(error.value)


def test_config_round_trips_and_marks_secrets() -> None:
    cfg = check(
        "https://example.test/",
        headers={"Authorization": "Bearer x"},
        expect={"json": [{"path": "status", "equals": None}, {"path": "count"}], "body_regex": "ok"},
    )
    assert http.Check.model_validate(cfg.model_dump()) == cfg
    assert http.Check.model_validate_json(cfg.model_dump_json()) == cfg
    assert {"headers", "body"} <= http.Check.secret_fields
