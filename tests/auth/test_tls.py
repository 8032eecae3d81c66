"""HTTPS serving: `platform-monitor serve` with `server.tls` answers over TLS with a certificate of
a throwaway CA (tests/pki.py), a client trusting that CA signs in, and the session cookie is
`Secure`; plain HTTP to the same port gets nothing. And `Secure` when `server.public_url` is https
behind a proxy."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.auth.conftest import auth_block, password
from tests.peers import free_port
from tests.pki import Pki


@pytest.fixture
def https_service(tmp_path) -> Iterator[tuple[str, Pki]]:
    pki = Pki.create(tmp_path)
    cert_file, key_file, _ = pki.server_cert_files()
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}, tls: {{cert_file: "{cert_file}", key_file: "{key_file}"}}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}"}}
{auth_block()}""")
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", verify=ssl.create_default_context(cafile=pki.ca_file)).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield url, pki
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_serves_https_and_marks_the_session_cookie_secure(https_service):
    url, pki = https_service
    trusted = ssl.create_default_context(cafile=pki.ca_file)
    with httpx.Client(base_url=url, verify=trusted, timeout=10) as client:
        answer = client.post("/login", data={"name": "alice", "password": password("alice")})
        assert answer.status_code == 303
        assert "; Secure" in answer.headers["set-cookie"]
        assert client.get("/api/v1/audit").status_code == 200  # the cookie travels back over HTTPS
    with pytest.raises(httpx.ConnectError):  # a client that trusts only the system's CAs refuses it
        httpx.get(url + "/healthz", timeout=10)
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port is no answer
        httpx.get(url.replace("https", "http") + "/healthz", timeout=10)


def test_secure_cookie_behind_an_https_public_url(start_service):
    service = start_service(server=', public_url: "https://monitor.example.com"')
    with service.client() as client:
        answer = client.post("/login", data={"name": "vic", "password": password("vic")})
    assert answer.status_code == 303 and "; Secure" in answer.headers["set-cookie"]


def test_a_missing_certificate_is_a_config_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"""
server:
  host: 127.0.0.1
  port: {free_port()}
  tls: {{cert_file: "{tmp_path}/none.pem", key_file: "{tmp_path}/none.key"}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}"}}
""")
    done = subprocess.run([sys.executable, "-m", "monitor", "serve", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "server.tls" in done.stderr and "cannot serve HTTPS" in done.stderr and "No such file" in done.stderr
