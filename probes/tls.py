"""The `tls` probe: handshake, chain and hostname verification, certificate expiry. What every
prober shares about TLS (settings, failure reasons, peer facts) is in probes/tls_client.py.
Reads certificates only; never stores them or times itself out."""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, Literal

from cryptography import x509
from pydantic import Field, model_validator

from probes.base import CheckBase, ProbeContext, Result, os_error_reason
from probes.tls_client import not_after as _not_after
from probes.tls_client import tls_error_reason

__all__ = ["Check", "probe"]

_SECONDS_PER_DAY = 86400.0


class Check(CheckBase):
    """Handshake with `host:port` and judge the certificate the server presents."""

    kind: Literal["tls"] = "tls"
    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None
    """Name sent as SNI and verified against the certificate; defaults to `host`."""
    warn_days: float = Field(default=14.0, ge=0)
    """Fewer days of validity left than this → degraded."""
    critical_days: float = Field(default=3.0, ge=0)
    """Fewer days of validity left than this → down."""
    ca_file: str | None = None
    """PEM bundle of the CAs to trust instead of the default (certifi) bundle."""
    verify: bool = True
    """Verify chain and hostname (a failure is down). Off: only the expiry is judged."""

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Check:
        if self.critical_days > self.warn_days:
            raise ValueError("critical_days must not exceed warn_days")
        return self


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Connect, handshake (verifying unless told not to) and judge the leaf's days left."""
    server_name = cfg.server_name or cfg.host
    try:
        context = ctx.clients.ssl_context(verify=cfg.verify, ca_file=cfg.ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    try:
        der, version = await _handshake(cfg.host, cfg.port, context, server_name)
    except OSError as exc:
        reason = tls_error_reason(exc) or os_error_reason(exc) or f"connection failed: {exc}"
        details: dict[str, Any] = {}
        if isinstance(exc, ssl.SSLCertVerificationError):
            # Still say when the certificate expires (an expired one fails verification, and
            # that is exactly when its expiry must show).
            details = await _unverified_facts(cfg.host, cfg.port, server_name, ctx)
        return Result.down(reason, **details)
    try:
        facts = _certificate_facts(der)
    except ValueError as exc:
        return Result.down(f"TLS: cannot parse the server certificate: {exc}", tls_version=version)
    facts["tls_version"] = version
    return _judge_expiry(cfg, facts)


async def _handshake(
    host: str, port: int, context: ssl.SSLContext, server_name: str
) -> tuple[bytes, str | None]:
    _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=server_name)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) or b"", ssl_object.version()
    finally:
        # Abort rather than close: a graceful TLS close waits for the peer's close_notify,
        # which could hold a finished probe until the runner's timeout.
        writer.transport.abort()


async def _unverified_facts(host: str, port: int, server_name: str, ctx: ProbeContext) -> dict[str, Any]:
    try:
        der, version = await _handshake(host, port, ctx.clients.ssl_context(verify=False), server_name)
        facts = _certificate_facts(der)
    except (OSError, ValueError):
        return {}
    facts["tls_version"] = version
    facts["days_left"] = round((facts["cert_not_after"] - time.time()) / _SECONDS_PER_DAY, 2)
    return facts


def _certificate_facts(der: bytes) -> dict[str, Any]:
    if not der:
        raise ValueError("the server presented no certificate")
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        sans = san.get_values_for_type(x509.DNSName) + ips
    except x509.ExtensionNotFound:
        sans = []
    return {
        "cert_not_after": _not_after(cert),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans,
        "serial": format(cert.serial_number, "x"),
    }


def _judge_expiry(cfg: Check, facts: dict[str, Any]) -> Result:
    days_left = (facts["cert_not_after"] - time.time()) / _SECONDS_PER_DAY
    facts["days_left"] = round(days_left, 2)
    if days_left < 0:
        return Result.down(f"certificate expired {-days_left:.1f} days ago", **facts)
    if days_left < cfg.critical_days:
        return Result.down(
            f"certificate expires in {days_left:.1f} days (critical below {cfg.critical_days:g})", **facts
        )
    if days_left < cfg.warn_days:
        return Result.degraded(
            f"certificate expires in {days_left:.1f} days (warning below {cfg.warn_days:g})", **facts
        )
    return Result.up(f"certificate valid for {days_left:.0f} more days", **facts)
