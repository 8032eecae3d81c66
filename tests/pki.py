"""A throwaway certificate authority for tests (trustme): server contexts for 127.0.0.1, client
certificates for mutual TLS, and the CA bundle as a file for `tls.ca_file`; `make_tls_files` for
peers that read their certificates from files (the docker-registry)."""

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

    def server_cert_files(self, *, days: float = 90) -> tuple[str, str, dt.datetime]:
        """(certificate file, key file, expiry) of a new server certificate for 127.0.0.1 and
        localhost; the expiry in whole seconds, as a client reads it from the handshake."""
        not_after = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0)
        cert = self.ca.issue_cert("127.0.0.1", "localhost", not_after=not_after)
        cert_file, key_file = self.tmp / "server.pem", self.tmp / "server.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return str(cert_file), str(key_file), not_after

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


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throwaway CA, a server certificate it signed for 127.0.0.1 and localhost
    (valid until `not_after`), and a client certificate it signed."""

    ca_file: str
    cert_file: str
    key_file: str
    client_cert_file: str
    client_key_file: str
    not_after: dt.datetime

    def client_context(self, *, client_cert: bool = False) -> ssl.SSLContext:
        """An SSL context trusting the CA (and presenting the client certificate), for a test's
        own client of a peer (httpx `verify=`)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if client_cert:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


def make_tls_files(directory: Path, *, days: float = 30) -> TlsFiles:
    """A fresh CA and certificates under `directory`; the server certificate expires in `days`."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki.create(directory)
    cert_file, key_file, not_after = pki.server_cert_files(days=days)
    return TlsFiles(pki.ca_file, cert_file, key_file, *pki.client_cert_files("pm-client"), not_after=not_after)
