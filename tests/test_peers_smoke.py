"""Smoke tests of the peer fixtures: each real server starts on loopback and answers as tests expect.
A failure here means the machine or a fixture is broken, not platform-monitor."""

import ssl

import httpx
import pytest
import trustme
from sqlalchemy import create_engine, inspect, make_url, text

from tests.peer_databases import redis_command
from tests.peers import Peer, PeerError, free_port, require_peer


def test_require_peer_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pm-no-such-binary not found"):
        require_peer("pm-no-such-binary", "smoke")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="peer missing: smoke"):
        require_peer(lambda: False, "smoke")
    assert require_peer("sh", "smoke").endswith("/sh")


def test_peer_that_dies_reports_its_log(tmp_path) -> None:
    peer = Peer(name="dies", argv=["sh", "-c", "echo boom-from-peer; exit 3"], log_path=tmp_path / "dies.log",
                ready_port=free_port())
    with pytest.raises(PeerError, match=r"(?s)exited with status 3.*boom-from-peer"):
        peer.start()


@pytest.mark.peer("prometheus")
def test_prometheus_is_ready_and_scrapes(prometheus_factory, node_exporter) -> None:
    prometheus = prometheus_factory(node_exporter.url.removeprefix("http://"))
    assert httpx.get(f"{prometheus.url}/-/ready").status_code == 200
    [sample] = prometheus.wait_for('up{job="pm-test"} == 1')
    assert sample["metric"]["instance"] == node_exporter.url.removeprefix("http://")


@pytest.mark.peer("alertmanager")
def test_alertmanager_round_trips_an_alert(alertmanager) -> None:
    alert = {"labels": {"alertname": "PmSmoke", "severity": "none"}, "annotations": {"summary": "smoke"}}
    assert httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[alert]).status_code == 200
    alerts = httpx.get(f"{alertmanager.url}/api/v2/alerts").json()
    assert [a["labels"]["alertname"] for a in alerts] == ["PmSmoke"]
    status = httpx.get(f"{alertmanager.url}/api/v2/status").json()
    assert status["config"]["original"]  # config loaded
    assert status["cluster"]["status"] == "disabled"


@pytest.mark.peer("registry")
def test_registry_answers_v2_and_debug(docker_registry_factory) -> None:
    registry = docker_registry_factory(debug=True)
    response = httpx.get(f"{registry.url}/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert httpx.get(f"{registry.debug_url}/debug/health").status_code == 200
    assert "registry_" in httpx.get(f"{registry.debug_url}/metrics").text


@pytest.mark.peer("registry")
def test_registry_with_htpasswd_asks_for_credentials(docker_registry_factory) -> None:
    registry = docker_registry_factory({"alice": "s3cret"}, realm="pm-smoke")
    anonymous = httpx.get(f"{registry.url}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="pm-smoke"'
    assert httpx.get(f"{registry.url}/v2/", auth=("alice", "wrong")).status_code == 401
    assert httpx.get(f"{registry.url}/v2/", auth=registry.auth).status_code == 200


@pytest.mark.peer("etcd")
def test_etcd_is_healthy(etcd_factory) -> None:
    etcd = etcd_factory()
    assert httpx.get(f"{etcd.url}/health").json() == {"health": "true"}
    assert "etcd_server_has_leader 1" in httpx.get(f"{etcd.metrics_url}/metrics").text


@pytest.mark.peer("etcd")
def test_etcd_with_mutual_tls_wants_a_client_certificate(etcd_factory, tmp_path) -> None:
    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("pm-test-client")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "client-cert", "client-key")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    client.cert_chain_pems[0].write_to_path(paths["client-cert"])
    client.private_key_pem.write_to_path(paths["client-key"])

    etcd = etcd_factory(cert_file=paths["cert"], key_file=paths["key"], ca_file=paths["ca"])
    assert etcd.url.startswith("https://")
    with_cert = ssl.create_default_context(cafile=paths["ca"])
    with_cert.load_cert_chain(paths["client-cert"], paths["client-key"])
    assert httpx.get(f"{etcd.url}/health", verify=with_cert).json() == {"health": "true"}
    # Under TLS 1.3 the missing certificate is noticed after the handshake: a ReadError, not an SSL error.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{etcd.url}/health", verify=ssl.create_default_context(cafile=paths["ca"]))
    assert httpx.get(f"{etcd.metrics_url}/health").json() == {"health": "true"}


@pytest.mark.peer("node-exporter")
def test_node_exporter_serves_node_metrics(node_exporter) -> None:
    response = httpx.get(f"{node_exporter.url}/metrics")
    assert response.status_code == 200
    assert "\nnode_load1 " in response.text


@pytest.mark.peer("blackbox")
def test_blackbox_probes_nginx(blackbox_exporter, nginx_factory) -> None:
    up = nginx_factory()
    down = nginx_factory(status=503, body="maintenance\n")
    assert httpx.get(f"{up.url}/anything").text == "ok\n"
    assert blackbox_exporter.probe(f"{up.url}/")["probe_success"] == 1
    assert blackbox_exporter.probe(f"{down.url}/")["probe_success"] == 0


def _create_table_in(url: str) -> None:
    engine = create_engine(url)
    try:
        assert inspect(engine).get_table_names() == []  # a fresh database
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE smoke (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
            conn.execute(text("INSERT INTO smoke VALUES (1, 'one')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM smoke")).scalar_one() == "one"
    finally:
        engine.dispose()


@pytest.mark.peer("postgres")
def test_postgres_url_is_a_fresh_database(postgres_url) -> None:
    assert make_url(postgres_url).database.startswith("pm_test_")
    _create_table_in(postgres_url)


@pytest.mark.peer("mysql")
def test_mysql_url_is_a_fresh_database(mysql_url) -> None:
    assert make_url(mysql_url).database.startswith("pm_test_")
    _create_table_in(mysql_url)


@pytest.mark.peer("redis")
def test_redis_url_is_an_empty_database(redis_url) -> None:
    assert redis_command(redis_url, "DBSIZE") == 0
    assert redis_command(redis_url, "SET", "pm-smoke", "v") == "OK"
    assert redis_command(redis_url, "GET", "pm-smoke") == "v"
