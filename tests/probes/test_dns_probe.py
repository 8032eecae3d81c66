"""The dns probe against a toy DNS server on 127.0.0.1 (UDP and TCP)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from probes import dns
from probes.base import ProbeContext, Status

DnsServer = Any  # conftest's


def check(server: str, query_name: str, **settings: Any) -> dns.Check:
    return dns.Check(name="dns", component="test", query_name=query_name, server=server, **settings)


async def test_a_records(dns_server: DnsServer, ctx: ProbeContext) -> None:
    result = await dns.probe(check(dns_server.udp, "ok.test"), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["rcode"] == "NOERROR"
    assert sorted(result.details["answers"]) == ["192.0.2.1", "192.0.2.2"]


async def test_over_tcp(dns_server: DnsServer, ctx: ProbeContext) -> None:
    result = await dns.probe(check(dns_server.tcp, "ok.test", transport="tcp", record_type="AAAA"), ctx)
    assert result.status is Status.UP, result.reason
    assert result.details["answers"] == ["2001:db8::1"]


async def test_answers_contain(dns_server: DnsServer, ctx: ProbeContext) -> None:
    good = check(dns_server.udp, "ok.test", expect={"answers_contain": ["192.0.2.2"]})
    assert (await dns.probe(good, ctx)).status is Status.UP
    bad = check(dns_server.udp, "ok.test", expect={"answers_contain": ["192.0.2.2", "192.0.2.9"]})
    result = await dns.probe(bad, ctx)
    assert result.status is Status.DOWN
    assert result.reason.startswith("unexpected answers: missing 192.0.2.9 (got 192.0.2."), result.reason


@pytest.mark.parametrize(
    ("record_type", "query_name", "expected"),
    [
        ("TXT", "txt.test", "v=spf1 -all"),
        ("MX", "mx.test", "10 mail.test"),
        ("CNAME", "alias.test", "ok.test"),
        ("PTR", "192.0.2.1", "ok.test"),
        ("A", "alias.test", "192.0.2.1"),
    ],
)
async def test_record_types(
    dns_server: DnsServer, ctx: ProbeContext, record_type: str, query_name: str, expected: str
) -> None:
    cfg = check(dns_server.udp, query_name, record_type=record_type, expect={"answers_contain": [expected]})
    result = await dns.probe(cfg, ctx)
    assert result.status is Status.UP, result.reason


async def test_nxdomain(dns_server: DnsServer, ctx: ProbeContext) -> None:
    result = await dns.probe(check(dns_server.udp, "nope.test"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "NXDOMAIN (expected NOERROR)")
    expected = check(dns_server.udp, "nope.test", expect={"rcode": "NXDOMAIN"})
    assert (await dns.probe(expected, ctx)).status is Status.UP


async def test_servfail(dns_server: DnsServer, ctx: ProbeContext) -> None:
    result = await dns.probe(check(dns_server.udp, "broken.test"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "SERVFAIL (expected NOERROR)")


async def test_no_answer(dns_server: DnsServer, ctx: ProbeContext) -> None:
    result = await dns.probe(check(dns_server.udp, "txt.test", record_type="A"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "no answer")
    too_few = check(dns_server.udp, "ok.test", expect={"min_answers": 3})
    assert (await dns.probe(too_few, ctx)).reason == "2 answers (expected at least 3)"


async def test_tcp_connection_refused(closed_port: int, ctx: ProbeContext) -> None:
    result = await dns.probe(check(f"127.0.0.1:{closed_port}", "ok.test", transport="tcp"), ctx)
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"surprise": 1}, "surprise"),
        ({"server": "dns.example:53"}, "is not an IP address"),
        ({"server": "127.0.0.1:99999"}, "port must be 1..65535"),
        ({"record_type": "HINFO"}, "record_type"),
        ({"query_name": "a..b"}, "is not a valid DNS name"),
        ({"expect": {"rcode": "WHATEVER"}}, "rcode"),
        ({"expect": {"surprise": 1}}, "surprise"),
    ],
)
def test_config_is_validated(settings: dict[str, Any], message: str) -> None:
    fields = {"query_name": "example.test", **settings}
    with pytest.raises(ValidationError) as error:
        dns.Check(name="dns", component="test", **fields)
    assert message in str(error.value)


def test_server_forms() -> None:
    assert dns.parse_server("10.0.0.1") == ("10.0.0.1", 53)
    assert dns.parse_server("10.0.0.1:5353") == ("10.0.0.1", 5353)
    assert dns.parse_server("::1") == ("::1", 53)
    assert dns.parse_server("[::1]:5353") == ("::1", 5353)
