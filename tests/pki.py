"""A throwaway certificate authority for tests (trustme): server contexts for 127.0.0.1, client
certificates for mutual TLS, and the CA bundle as a file for `tls.ca_file`."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: str
    tmp: Path

    @classmethod
    def create(cls, tmp: Path) -> Pki:
        ca = trustme.CA()
        ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        return cls(ca, str(ca_file), tmp)

    def server_context(self, *identities: str, days: float = 90, require_client_cert: bool = False) -> ssl.SSLContext:
        not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
        cert = self.ca.issue_cert(*(identities or ("127.0.0.1", "localhost")), not_after=not_after)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context

    def client_cert_with_key_file(self, name: str = "client") -> str:
        """One PEM file holding a new client certificate `<name>.test` and its key."""
        path = self.tmp / f"{name}-with-key.pem"
        self.ca.issue_cert(f"{name}.test").private_key_and_cert_chain_pem.write_to_path(str(path))
        return str(path)

    def client_cert_files(self, name: str = "client") -> tuple[str, str]:
        """(certificate file, key file) of a new client certificate `<name>.test`."""
        cert = self.ca.issue_cert(f"{name}.test")
        cert_file, key_file = self.tmp / f"{name}.pem", self.tmp / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return str(cert_file), str(key_file)
