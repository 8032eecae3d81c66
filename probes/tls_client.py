"""Client-side TLS that every prober and receiver shares: the `tls:` settings block, failure
reasons an operator can act on, and the facts of a peer's certificate. Not a probe kind (the
`tls` kind is probes/tls.py); no I/O of its own."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict, model_validator

from probes.base import exception_chain

__all__ = ["TlsSettings", "not_after", "peer_tls_details", "response_tls_details", "tls_error_reason"]

# OpenSSL reason codes a user meets most, in words; others are shown as OpenSSL spells them.
_SSL_REASONS = {
    "WRONG_VERSION_NUMBER": "server does not speak TLS (wrong version number)",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "server requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "server rejected the client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "server does not trust the client certificate's issuer",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake failure (no common protocol or cipher?)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no common TLS version",
    "UNEXPECTED_EOF_WHILE_READING": "connection closed during the TLS session",
}
# The alerts a server sends for a missing client certificate: TLS 1.3's own, or bad_certificate
# (older Go crypto/tls, as in distribution 2.8's Debian build, sends that one for both cases).
_CLIENT_CERT_ALERTS = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE"})


class TlsSettings(BaseModel):
    """Client TLS settings of an http or tcp check. File paths are read by the prober's host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verify: bool = True
    """Verify the server's chain and hostname. Off: encrypt only (expiry is still reported)."""
    ca_file: str | None = None
    """PEM bundle of the CAs to trust instead of the default (certifi) bundle."""
    cert_file: str | None = None
    """Client certificate (PEM) for mutual TLS; may also hold the key."""
    key_file: str | None = None
    """Client key (PEM) when not in `cert_file`. A path, so not secret itself."""

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsSettings:
        if self.key_file and not self.cert_file:
            raise ValueError("tls.key_file needs tls.cert_file")
        return self


def tls_error_reason(exc: BaseException, *, client_cert: bool = True) -> str | None:
    """"TLS: certificate verify failed: …" and the like from an SSL error anywhere in `exc`'s
    chain; None if the failure was not a TLS one. `client_cert` False (the client presented
    none) turns the server's certificate alerts into "requires a client certificate"."""
    # Innermost first: wrappers (aiohttp's) subclass the ssl errors without their attributes.
    chain = exception_chain(exc)[::-1]
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            message = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
            return f"TLS: certificate verify failed: {message.rstrip('.')}"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            code = getattr(error, "reason", None) or type(error).__name__
            if not client_cert and code in _CLIENT_CERT_ALERTS:
                return "TLS: server requires a client certificate and none is configured (tls.cert_file)"
            return f"TLS: {_SSL_REASONS.get(code, code)}"
    return None


def response_tls_details(response: Any) -> dict[str, Any]:
    """`peer_tls_details` of an httpx response's connection (probes/clients.py exposes it as the
    `network_stream` extension). Read it before the body: the TLS object goes with the connection."""
    stream = response.extensions.get("network_stream")
    return peer_tls_details(stream.get_extra_info("ssl_object") if stream is not None else None)


def peer_tls_details(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any]:
    """`tls_version` and `cert_not_after` (unix seconds) of an open TLS connection; {} if plain.

    Python 3.11 exposes only the leaf the server presented, so the expiry is the leaf's."""
    if ssl_object is None:
        return {}
    details: dict[str, Any] = {"tls_version": ssl_object.version()}
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        with contextlib.suppress(ValueError):  # unparsable certificate: no expiry rather than no result
            details["cert_not_after"] = not_after(x509.load_der_x509_certificate(der))
    return details


def not_after(cert: x509.Certificate) -> int:
    """When the certificate expires (unix seconds)."""
    return int(cert.not_valid_after_utc.timestamp())
