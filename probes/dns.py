"""The `dns` probe: one query to one server (the configured one, else the system's first
nameserver), judged on rcode and answers. Never retries or times itself out (the runner does)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.reversename
from pydantic import BaseModel, ConfigDict, Field, field_validator

from probes.base import CheckBase, ProbeContext, Result, os_error_reason

__all__ = ["Check", "Expect", "parse_server", "probe"]

DNS_PORT = 53
_RCODES = Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"]
_TRAILING_DOT_RE = re.compile(r"\.(?=\s|$)")


def parse_server(server: str) -> tuple[str, int]:
    """`1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353` → (ip, port)."""
    host, port = server, DNS_PORT
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{server!r}: expected [ipv6]:port")
            port = int(rest[1:])
    elif server.count(":") == 1:
        host, _, port_text = server.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"{server!r}: the port must be a number")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{server!r} is not an IP address (ip, ip:port or [ipv6]:port)") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{server!r}: port must be 1..65535")
    return host, port


class Expect(BaseModel):
    """What the response must be. Answers compare case-insensitively as `dig +short` prints them,
    but names without their trailing dot and TXT as its strings joined, unquoted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rcode: _RCODES = "NOERROR"
    answers_contain: list[str] = Field(default_factory=list)
    """Each of these must be among the answers of the queried type."""
    min_answers: int = Field(default=1, ge=0)
    """Fewest answers of the queried type; checked only when the expected rcode is NOERROR."""


class Check(CheckBase):
    """Query `query_name` for `record_type` and check the response's rcode and answers."""

    kind: Literal["dns"] = "dns"
    query_name: str = Field(min_length=1)
    """The name queried (`name` is the check's own name). An IP address with `record_type: PTR`
    is turned into its reverse name."""
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "PTR", "SOA"] = "A"
    server: str | None = None
    """`ip`, `ip:port` or `[ipv6]:port`; default: the first nameserver of /etc/resolv.conf."""
    transport: Literal["udp", "tcp"] = "udp"
    """`udp` falls back to TCP when the answer is truncated."""
    expect: Expect = Field(default_factory=Expect)

    @field_validator("server")
    @classmethod
    def _valid_server(cls, value: str | None) -> str | None:
        if value is not None:
            parse_server(value)
        return value

    @field_validator("query_name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"{value!r} is not a valid DNS name: {exc}") from None
        return value

    def qname(self) -> dns.name.Name:
        """The name to put in the question."""
        if self.record_type == "PTR":
            try:
                return dns.reversename.from_address(self.query_name)
            except (ValueError, dns.exception.SyntaxError):
                pass  # already a reverse name (or any other name)
        return dns.name.from_text(self.query_name)


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Send one query and judge the response; network failures and bad responses are down."""
    if cfg.server is not None:
        host, port = parse_server(cfg.server)
    else:
        try:
            host, port = await asyncio.to_thread(_system_nameserver)  # reads /etc/resolv.conf
        except dns.exception.DNSException as exc:
            return Result.down(f"no system resolver: {exc}")
    query = dns.message.make_query(cfg.qname(), cfg.record_type)
    server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if cfg.transport == "tcp":
            response = await dns.asyncquery.tcp(query, host, port=port)
        else:
            response, _ = await dns.asyncquery.udp_with_fallback(query, host, port=port)
    except dns.exception.DNSException as exc:
        return Result.down(f"invalid DNS response: {exc}", server=server)
    except OSError as exc:
        return Result.down(os_error_reason(exc) or f"DNS server {server}: {exc}", server=server)
    return _judge(cfg, response, server)


def _system_nameserver() -> tuple[str, int]:
    resolver = dns.resolver.Resolver()
    if not resolver.nameservers:
        raise dns.resolver.NoResolverConfiguration("no nameserver in /etc/resolv.conf")
    first = resolver.nameservers[0]
    if isinstance(first, str):
        return first, resolver.port
    return first.address, getattr(first, "port", DNS_PORT)


def _judge(cfg: Check, response: dns.message.Message, server: str) -> Result:
    rcode = dns.rcode.to_text(response.rcode())
    rdtype = dns.rdatatype.from_text(cfg.record_type)
    answers = [
        _answer_text(rdata) for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset
    ]
    details = {"rcode": rcode, "answers": answers, "server": server}
    expect = cfg.expect
    if rcode != expect.rcode:
        return Result.down(f"{rcode} (expected {expect.rcode})", **details)
    if expect.rcode == "NOERROR" and len(answers) < expect.min_answers:
        if not answers:
            return Result.down("no answer", **details)
        return Result.down(f"{len(answers)} answers (expected at least {expect.min_answers})", **details)
    got = {answer.lower() for answer in answers}
    missing = [want for want in expect.answers_contain if _normalize(want).lower() not in got]
    if missing:
        got_text = ", ".join(answers) or "none"
        return Result.down(f"unexpected answers: missing {', '.join(missing)} (got {got_text})", **details)
    return Result.up(f"{rcode}, {len(answers)} answers", **details)


def _answer_text(rdata: dns.rdata.Rdata) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT (and SPF): the text itself, not its quoted zone-file form
        return b"".join(strings).decode("utf-8", "replace")
    return _normalize(rdata.to_text())


def _normalize(text: str) -> str:
    return _TRAILING_DOT_RE.sub("", text.strip())
