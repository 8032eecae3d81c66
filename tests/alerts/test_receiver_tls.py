"""The receivers' `tls:` block against real HTTPS servers on 127.0.0.1 signed by a throwaway CA:
a private CA trusted through `ca_file` (and refused, retried, without it), mutual TLS, `verify:
false`, `server_name`, one client per TLS setting, and config mistakes named at load time."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from monitor.alerts.config import DeliveryConfig
from monitor.alerts.receivers import alertmanager
from monitor.alerts.sender import Delivery, Sender
from monitor.api import create_app
from monitor.cli import main
from monitor.config import ConfigError, load_config, parse_config
from tests.alerts.servers import RecordingServer, WebhookReceiver
from tests.alerts.test_receivers import payload
from tests.peers import free_port
from tests.pki import Pki
from tests.targets import HttpTarget, ServiceThread, wait_for

SECRET = "tls-hook-secret-81"
DELIVERY = DeliveryConfig(initial_backoff=0.05, max_backoff=0.1)
WITHIN = 15.0  # seconds a delivery outcome may take before the test fails
Row = tuple  # (event_id, receiver, outcome, attempts, next_attempt_at, error) as the sender records it


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path)


@pytest.fixture
def servers():
    started: list[RecordingServer] = []

    def start(server: RecordingServer) -> RecordingServer:
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def load(*receivers: dict) -> dict:
    """Receivers by name, loaded the way the service loads them (YAML is a superset of JSON)."""
    config = parse_config(json.dumps({"alerts": {"receivers": list(receivers)}}), "cfg.yaml", env={})
    return config.alerts.receiver_by_name()


def hook(url: str, **tls: object) -> dict:
    fields = {"name": "hook", "kind": "webhook", "url": f"{url}/hook", "secret": SECRET}
    return {**fields, "tls": tls} if tls else fields


async def deliver(receivers: dict, until: Callable[[list[Row]], bool]) -> list[Row]:
    """Queue one firing event for every receiver and let a real Sender work until `until(rows)`."""
    rows: list[Row] = []
    sender = Sender(receivers=lambda: receivers, delivery=lambda: DELIVERY, record=lambda *row: rows.append(row))
    sender.enqueue(Delivery("e" * 32, name, "check:reg/pull", payload(), time.time()) for name in receivers)
    deadline = time.monotonic() + WITHIN
    try:
        while not until(rows):
            assert time.monotonic() < deadline, f"no such outcome within {WITHIN}s: {rows}"
            await asyncio.sleep(0.02)
    finally:
        await sender.stop()
    return rows


def delivered(rows: list[Row]) -> bool:
    return any(row[2] == "delivered" for row in rows)


def retried(times: int) -> Callable[[list[Row]], bool]:
    return lambda rows: sum(row[2] == "pending" for row in rows) >= times


async def test_private_ca_is_trusted_with_ca_file(pki, servers):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context()))
    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file)), delivered)
    assert [row[2] for row in rows] == ["delivered"]
    assert server.events() == [("check:reg/pull", "firing")] and server.refused == 0


async def test_private_ca_without_ca_file_is_refused_and_retried_with_the_reason(pki, servers):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context()))
    rows = await deliver(load(hook(server.url)), retried(2))
    assert not delivered(rows) and server.events() == []
    for _, _, outcome, _, _, error in rows:
        assert outcome == "pending"
        assert error.startswith("TLS: certificate verify failed: "), error
    assert rows[-1][3] >= 2  # attempts
    assert server.handshake_errors  # the server saw the client give up on its certificate


async def test_mutual_tls_needs_the_client_certificate(pki, servers):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context(require_client_cert=True)))
    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file)), retried(4))
    assert not delivered(rows) and server.events() == []
    # TLS 1.3 sends the "certificate required" alert after the handshake: it reaches the client
    # as that alert or as a broken connection, depending on timing
    for row in rows:
        assert row[5] in {"TLS: server requires a client certificate",
                          "connection lost before the answer (ReadError)", "connection reset"}, row[5]
    assert any("CERTIFICATE" in error for error in server.handshake_errors), server.handshake_errors

    cert_file, key_file = pki.client_cert_files()
    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file, cert_file=cert_file, key_file=key_file)),
                         delivered)
    assert [row[2] for row in rows] == ["delivered"] and server.events() == [("check:reg/pull", "firing")]


async def test_client_certificate_and_key_in_one_file(pki, servers):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context(require_client_cert=True)))
    both = pki.client_cert_with_key_file()
    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file, cert_file=both)), delivered)
    assert server.events() == [("check:reg/pull", "firing")], rows


async def test_verify_off_delivers_to_an_untrusted_server_with_a_warning_at_load(pki, servers, caplog):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context()))
    with caplog.at_level(logging.WARNING, logger="monitor.config"):
        receivers = load({"name": "plain", "kind": "slack", "url": "https://hooks.slack.com/x"},
                         hook(server.url, verify=False))
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "alerts.receivers[1] (hook): tls.verify is off" in warning.getMessage()
    rows = await deliver({"hook": receivers["hook"]}, delivered)
    assert [row[2] for row in rows] == ["delivered"] and server.events() == [("check:reg/pull", "firing")]


async def test_server_name_is_sent_and_verified_instead_of_the_url_host(pki, servers):
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context("hooks.internal")))
    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file)), retried(2))
    assert "IP address mismatch" in rows[0][5], rows[0][5]
    assert server.events() == []

    rows = await deliver(load(hook(server.url, ca_file=pki.ca_file, server_name="hooks.internal")), delivered)
    assert [row[2] for row in rows] == ["delivered"] and server.events() == [("check:reg/pull", "firing")]
    assert server.server_names[-1] == "hooks.internal"


@pytest.mark.parametrize("kind", ["webhook", "alertmanager", "slack", "dingtalk", "wecom", "feishu"])
async def test_every_http_receiver_kind_posts_with_its_tls_setting(kind, pki, servers):
    server = servers(RecordingServer(ssl_context=pki.server_context(require_client_cert=True)))
    cert_file, key_file = pki.client_cert_files()
    receivers = load({"name": "r", "kind": kind, "url": f"{server.url}/in",
                      "tls": {"ca_file": pki.ca_file, "cert_file": cert_file, "key_file": key_file}})
    rows = await deliver(receivers, delivered)
    assert [row[2] for row in rows] == ["delivered"] and len(server.requests) == 1


async def test_alertmanager_refresh_uses_the_receivers_tls_client(pki, servers):
    server = servers(RecordingServer(ssl_context=pki.server_context()))
    cfg = load({"name": "am", "kind": "alertmanager", "url": server.url, "tls": {"ca_file": pki.ca_file}})["am"]
    sender = Sender(receivers=lambda: {"am": cfg}, delivery=lambda: DELIVERY, record=lambda *row: None)
    try:
        await alertmanager.refresh(cfg, [payload()], sender.client_for(cfg))
    finally:
        await sender.stop()
    [request] = server.requests
    assert request.path == "/api/v2/alerts" and request.json()[0]["labels"]["check"] == "reg/pull"


async def test_one_client_per_tls_setting_closed_on_reload_and_stop(pki):
    cert_file, key_file = pki.client_cert_files()
    mtls = {"ca_file": pki.ca_file, "cert_file": cert_file, "key_file": key_file}
    receivers = load({"name": "a", "kind": "webhook", "url": "https://a.test/", "tls": mtls},
                     {"name": "b", "kind": "alertmanager", "url": "https://b.test/", "tls": mtls},
                     {"name": "c", "kind": "webhook", "url": "https://c.test/", "tls": {"ca_file": pki.ca_file}},
                     {"name": "d", "kind": "slack", "url": "https://d.test/"},
                     {"name": "e", "kind": "wecom", "url": "https://e.test/"})
    current = dict(receivers)
    sender = Sender(receivers=lambda: current, delivery=lambda: DELIVERY, record=lambda *row: None)
    clients = {name: sender.client_for(cfg) for name, cfg in receivers.items()}
    assert clients["a"] is clients["b"] and clients["d"] is clients["e"]
    assert len({id(c) for c in clients.values()}) == 3

    del current["c"]  # a reload drops the only receiver with that setting
    await sender.close_unused_clients()
    assert clients["c"].is_closed and not clients["a"].is_closed and not clients["d"].is_closed
    assert sender.client_for(receivers["a"]) is clients["a"]

    await sender.stop()
    assert all(client.is_closed for client in clients.values())


def test_the_service_delivers_over_tls_and_a_reload_switches_the_tls_setting(pki, servers, tmp_path):
    """End to end: a firing alert refused by the certificate check (wrong CA) is delivered once a
    reload points `ca_file` at the right CA; the old setting's client is closed."""
    server = servers(WebhookReceiver(SECRET, ssl_context=pki.server_context()))
    (tmp_path / "other").mkdir()
    wrong_ca = Pki.create(tmp_path / "other")
    target = HttpTarget()
    target.behaviour.status = 503
    path, port = tmp_path / "pm.yaml", free_port()

    def write(ca_file: str) -> None:
        path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 100ms, timeout: 100ms, failure_threshold: 1}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/healthz"}}
alerts:
  delivery: {{initial_backoff: 100ms, max_backoff: 400ms}}
  receivers:
    - {{name: hook, kind: webhook, url: "{server.url}/hook", secret: {SECRET}, tls: {{ca_file: "{ca_file}"}}}}
""")

    write(wrong_ca.ca_file)
    svc = ServiceThread(create_app(load_config(path), config_path=path), port).start()
    try:
        errors = wait_for(lambda: svc.json("/api/v1/alerts")["outbox"]["last_errors"].get("hook"),
                          what="a refused delivery")
        assert errors.startswith("TLS: certificate verify failed"), errors
        assert server.events() == []
        write(pki.ca_file)
        wait_for(lambda: server.events() == [("check:paas/web", "firing")], what="delivery after the reload")
        sender = svc.service.alerting.sender
        wait_for(lambda: len(sender._clients) == 1, what="the old TLS setting's client closed")
        [tls] = sender._clients
        assert tls.ca_file == pki.ca_file
    finally:
        svc.stop()
        target.close()


# --- config mistakes, named at load time ---------------------------------------------------------


def tls_errors(**tls: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load({"name": "hook", "kind": "webhook", "url": "https://h.test/", "tls": tls})
    return info.value.errors


def test_missing_files_are_named_with_their_field(pki, tmp_path):
    missing = str(tmp_path / "nope.pem")
    assert tls_errors(ca_file=missing) == [f"alerts.receivers[0].tls.ca_file: no such file: {missing}"]
    cert_file, _ = pki.client_cert_files()
    assert tls_errors(cert_file=cert_file, key_file=missing) == [
        f"alerts.receivers[0].tls.key_file: no such file: {missing}"]
    assert tls_errors(cert_file=missing) == [f"alerts.receivers[0].tls.cert_file: no such file: {missing}"]
    assert tls_errors(ca_file=str(tmp_path)) == [f"alerts.receivers[0].tls.ca_file: not a file: {tmp_path}"]


def test_half_a_client_certificate_is_refused(pki):
    cert_file, key_file = pki.client_cert_files()
    assert tls_errors(cert_file=cert_file) == [
        f"alerts.receivers[0].tls: tls.cert_file: {cert_file} holds no private key; set tls.key_file"]
    assert tls_errors(key_file=key_file) == ["alerts.receivers[0].tls: tls.key_file needs tls.cert_file"]


def test_files_that_do_not_parse_are_refused(pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    [error] = tls_errors(ca_file=str(junk))
    assert error.startswith(f"alerts.receivers[0].tls.ca_file: {junk}: not a PEM bundle of CA certificates"), error
    cert_file, key_file = pki.client_cert_files()
    other_cert, _ = pki.client_cert_files("other")
    assert tls_errors(cert_file=str(junk), key_file=key_file) == [
        f"alerts.receivers[0].tls: tls.cert_file: {junk} holds no PEM certificate"]
    assert tls_errors(cert_file=cert_file, key_file=str(junk)) == [
        f"alerts.receivers[0].tls: tls.key_file: {junk} holds no PEM private key"]
    [error] = tls_errors(cert_file=other_cert, key_file=key_file)
    assert error == ("alerts.receivers[0].tls: tls.cert_file and tls.key_file: cannot use them together "
                     "(key values mismatch)"), error


def test_an_encrypted_key_is_refused_instead_of_asking_for_a_pass_phrase(pki, tmp_path):
    cert = pki.ca.issue_cert("client.test")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"pass phrase")))
    cert_file = tmp_path / "client.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    assert tls_errors(cert_file=str(cert_file), key_file=str(encrypted)) == [
        f"alerts.receivers[0].tls.key_file: {encrypted}: the private key is encrypted; store it decrypted (mode 0600)"]


def test_apprise_has_no_tls_block():
    with pytest.raises(ConfigError) as info:
        load({"name": "ap", "kind": "apprise", "urls": ["json://127.0.0.1/"], "tls": {"verify": False}})
    assert info.value.errors[0].startswith("alerts.receivers[0].tls: unknown key: the keys here are `kind`, ")


def test_validate_command_names_the_file_and_field(tmp_path, capsys):
    config = tmp_path / "pm.yaml"
    missing = tmp_path / "ca.pem"
    config.write_text(f"""
alerts:
  receivers:
    - {{name: am, kind: alertmanager, url: "https://alertmanager:9093", tls: {{ca_file: "{missing}"}}}}
""")
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: 1 error" in err and f"alerts.receivers[0].tls.ca_file: no such file: {missing}" in err


def test_docs_tls_example_loads(pki):
    readme = (Path(__file__).parents[2] / "docs" / "alerting.md").read_text()
    section = readme[readme.index("- **TLS**"):]
    start = section.index("```yaml") + len("```yaml")
    example = section[start:section.index("```", start)]
    cert_file, key_file = pki.client_cert_files()
    for shown, real in (("/etc/pm/tls/ca.pem", pki.ca_file), ("/etc/pm/tls/client.pem", cert_file),
                        ("/etc/pm/tls/client.key", key_file)):
        example = example.replace(shown, real)
    config = parse_config("alerts:\n" + textwrap.indent(example, "  "), "docs/alerting.md", {"HOOK_SECRET": "s"})
    tls = {r.name: r.tls for r in config.alerts.receivers}
    assert tls["am"].key_file == key_file and tls["gateway"].server_name == "hooks.internal"
