"""The registry probe against Debian's docker-registry serving HTTPS (`http.tls`) with a throwaway
CA: trusted through `tls.ca_file`, untrusted, verify off, the wrong scheme either way, a registry
that requires client certificates (`http.tls.clientcas`), and token auth with the realm on HTTPS."""

from __future__ import annotations

import time

import pytest

from monitor.config import parse_config
from monitor.engine import Engine
from monitor.metrics import EngineCollector
from probes.base import Status
from probes.registry import probe
from tests.peer_servers import RegistryPeer
from tests.pki import TlsFiles, make_tls_files
from tests.registry.images import Image, canary, sha256
from tests.registry.servers import TokenServer
from tests.registry.test_registry_probe import CANARY, check, push

CERT_DAYS = 30


@pytest.fixture
def pki(tmp_path) -> TlsFiles:
    """A throwaway CA; the registry's certificate (127.0.0.1) expires in CERT_DAYS days."""
    return make_tls_files(tmp_path / "pki", days=CERT_DAYS)


@pytest.fixture
def https_registry(docker_registry_factory, pki) -> tuple[RegistryPeer, Image]:
    """A registry serving HTTPS with the pki's certificate, and the canary pushed to it."""
    registry = docker_registry_factory(tls=pki)
    image = canary(sizes=(3000, 200))
    push(registry.url, image, verify=registry.ready_client["verify"])
    return registry, image


async def test_https_registry_trusted_through_ca_file_is_up_with_its_certificate_expiry(https_registry, pki, ctx):
    registry, image = https_registry
    cfg = check(registry.url, images=[f"{CANARY}:1.36"], pull_blob=True, tls={"ca_file": pki.ca_file})

    result = await probe(cfg, ctx)

    assert registry.url.startswith("https://")
    assert result.status == Status.UP, result.reason
    assert result.reason.startswith("v2 API ok, 1 canary present, blob ")
    assert result.details["api_version"] == "registry/2.0" and result.details["auth"] == "none"
    [entry] = result.details["images"]
    assert entry["digest"] == image.digest
    smallest = min(image.layers, key=len)
    assert entry["blob"]["digest"] == sha256(smallest) and entry["blob"]["bytes"] == len(smallest)
    assert set(result.details["phases"]) == {"ping", "manifest", "blob"}
    assert all(seconds > 0 for seconds in result.details["phases"].values())
    # The certificate the registry serves, as the handshake showed it.
    assert result.details["tls_version"] in {"TLSv1.2", "TLSv1.3"}
    assert result.details["cert_not_after"] == int(pki.not_after.timestamp())
    days_left = (result.details["cert_not_after"] - time.time()) / 86400
    assert CERT_DAYS - 1 < days_left <= CERT_DAYS


async def test_untrusted_certificate_is_down_naming_the_verification_failure(https_registry, ctx, tmp_path):
    registry, _ = https_registry
    for tls in ({}, {"ca_file": make_tls_files(tmp_path / "other").ca_file}):  # certifi's bundle, another CA
        result = await probe(check(registry.url, images=[f"{CANARY}:1.36"], tls=tls), ctx)
        assert result.status == Status.DOWN
        assert result.reason == "GET /v2/: TLS: certificate verify failed: unable to get local issuer certificate"
        assert set(result.details) == {"phases"}  # no canary is judged over a connection not trusted

    missing = await probe(check(registry.url, tls={"ca_file": str(tmp_path / "nope.pem")}), ctx)
    assert missing.status == Status.DOWN
    assert missing.reason.startswith("TLS settings: ") and "No such file" in missing.reason


async def test_verify_off_is_up_and_still_reports_the_expiry(https_registry, pki, ctx):
    registry, image = https_registry
    result = await probe(check(registry.url, images=[f"{CANARY}:1.36"], pull_blob=True, tls={"verify": False}), ctx)
    assert result.status == Status.UP, result.reason
    assert result.details["images"][0]["digest"] == image.digest
    assert result.details["cert_not_after"] == int(pki.not_after.timestamp())


async def test_wrong_scheme_either_way_says_so(https_registry, docker_registry_factory, ctx):
    registry, _ = https_registry
    plain_to_tls = await probe(check(registry.url.replace("https://", "http://")), ctx)
    assert plain_to_tls.status == Status.DOWN
    assert plain_to_tls.reason == "GET /v2/: HTTP 400: the registry serves HTTPS here; the check's url says http://"

    plain = docker_registry_factory()
    tls_to_plain = await probe(check(plain.url.replace("http://", "https://")), ctx)
    assert tls_to_plain.status == Status.DOWN
    assert tls_to_plain.reason == "GET /v2/: TLS: server does not speak TLS (wrong version number)"


async def test_registry_requiring_client_certificates(docker_registry_factory, pki, ctx, tmp_path):
    registry = docker_registry_factory(tls=pki, client_certs=True)
    image = canary()
    push(registry.url, image, verify=registry.ready_client["verify"])
    mutual = {"ca_file": pki.ca_file, "cert_file": pki.client_cert_file, "key_file": pki.client_key_file}

    good = await probe(check(registry.url, images=[f"{CANARY}:1.36"], pull_blob=True, tls=mutual), ctx)
    assert good.status == Status.UP, good.reason
    assert good.details["images"][0]["digest"] == image.digest
    assert set(good.details["phases"]) == {"ping", "manifest", "blob"}
    assert good.details["cert_not_after"] == int(pki.not_after.timestamp())

    without = await probe(check(registry.url, images=[f"{CANARY}:1.36"], tls={"ca_file": pki.ca_file}), ctx)
    assert without.status == Status.DOWN
    assert without.reason == (
        "GET /v2/: TLS: server requires a client certificate and none is configured (tls.cert_file)"
    )

    stranger = make_tls_files(tmp_path / "stranger")  # a client certificate from a CA the registry does not know
    foreign = {"ca_file": pki.ca_file, "cert_file": stranger.client_cert_file, "key_file": stranger.client_key_file}
    rejected = await probe(check(registry.url, tls=foreign), ctx)
    assert rejected.status == Status.DOWN
    assert rejected.reason == "GET /v2/: TLS: server rejected the client certificate"


# --- token auth with the registry and its realm on HTTPS -----------------------------------------


@pytest.fixture
def https_token_server(tmp_path, pki):
    server = TokenServer(tmp_path, {"robot": "s3cret"}, tls=pki)
    yield server
    server.close()


async def test_token_auth_over_https(docker_registry_factory, https_token_server, pki, ctx):
    registry = docker_registry_factory(tls=pki, config_overrides={"auth": https_token_server.registry_auth()})
    push(registry.url, authorization=f"Bearer {https_token_server.push_token(CANARY)}",
         verify=registry.ready_client["verify"])
    assert https_token_server.url.startswith("https://")

    cfg = check(registry.url, auth={"username": "robot", "password": "s3cret"}, images=[f"{CANARY}:1.36"],
                pull_blob=True, tls={"ca_file": pki.ca_file})
    result = await probe(cfg, ctx)
    assert result.status == Status.UP, result.reason
    assert result.reason.startswith("v2 API ok, bearer auth, 1 canary present")
    assert result.details["token"] == "fetched"
    assert set(result.details["phases"]) == {"ping", "auth", "manifest", "blob"}
    assert https_token_server.requests == [
        {"user": "robot", "scopes": ["repository:library/busybox:pull"], "service": "pm-registry"}
    ]


async def test_token_realm_with_an_untrusted_certificate_is_down_naming_the_realm(
    docker_registry_factory, pki, ctx, tmp_path
):
    # The registry is trusted, its token server's certificate comes from another CA.
    realm_pki = make_tls_files(tmp_path / "realm-pki")
    token_server = TokenServer(tmp_path, {"robot": "s3cret"}, tls=realm_pki)
    try:
        registry = docker_registry_factory(tls=pki, config_overrides={"auth": token_server.registry_auth()})
        result = await probe(check(registry.url, auth={"username": "robot", "password": "s3cret"},
                                    images=[f"{CANARY}:1.36"], tls={"ca_file": pki.ca_file}), ctx)
    finally:
        token_server.close()
    assert result.status == Status.DOWN
    assert result.reason == (
        f"token server {token_server.url}/token: "
        "TLS: certificate verify failed: unable to get local issuer certificate"
    )
    assert token_server.requests == []  # the handshake failed: no request, no credentials sent


# --- as configured and exported --------------------------------------------------------------------


async def test_engine_exports_the_registry_certificate_expiry(https_registry, pki):
    registry, _ = https_registry
    config = parse_config(f"""
checks:
  - {{name: prod, component: registries, kind: registry, url: "{registry.url}", images: ["{CANARY}:1.36"],
     tls: {{ca_file: "{pki.ca_file}"}}}}
""")
    engine = Engine(config)
    await engine.start(schedule=False)
    try:
        result = await engine.runner.run(engine.checks["registries/prod"])
        [family] = [m for m in EngineCollector(engine.state, engine.stats).collect()
                    if m.name == "platform_monitor_tls_cert_expiry_timestamp_seconds"]
    finally:
        await engine.stop()
    assert result.status == Status.UP, result.reason
    expiry = {s.labels["check"]: s.value for s in family.samples}
    assert expiry == {"registries/prod": float(int(pki.not_after.timestamp()))}


async def test_http_and_tcp_probes_say_a_client_certificate_is_missing(docker_registry_factory, pki, ctx):
    """A Go TLS server (the registry) answers a missing client certificate with the same alert as
    a bad one: the http and tcp probes, like the registry probe, say which it was."""
    from probes import http, tcp

    registry = docker_registry_factory(tls=pki, client_certs=True)
    port = int(registry.url.rsplit(":", 1)[1])
    missing = "TLS: server requires a client certificate and none is configured (tls.cert_file)"

    web = await http.probe(http.Check(name="v2", component="test", url=f"{registry.url}/v2/",
                                      tls={"ca_file": pki.ca_file}), ctx)
    assert (web.status, web.reason) == (Status.DOWN, missing)
    mutual = {"ca_file": pki.ca_file, "cert_file": pki.client_cert_file, "key_file": pki.client_key_file}
    web = await http.probe(http.Check(name="v2", component="test", url=f"{registry.url}/v2/", tls=mutual), ctx)
    assert web.status == Status.UP, web.reason

    # tcp: the handshake itself succeeds on TLS 1.3 (the alert comes with the first read), so
    # send a request and expect an answer
    sock = await tcp.probe(tcp.Check(name="v2", component="test", host="127.0.0.1", port=port,
                                     tls={"ca_file": pki.ca_file}, send="GET /v2/ HTTP/1.0\r\n\r\n",
                                     expect="HTTP/1."), ctx)
    assert sock.status == Status.DOWN
    # (the server closes after its alert: a request landing after that may draw a reset first)
    assert sock.reason in {missing, "connection reset"}, sock.reason
