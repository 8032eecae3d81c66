"""Fixtures for the monitoring-stack peers: Prometheus, Alertmanager, a Docker registry, etcd, the node
and blackbox exporters, nginx. Each is a factory (or a default instance) on a free loopback port with its
config, data and log under a temp dir; it must not reach anything beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.peers import Peer, PeerStack, free_port, is_200, peer_missing, require_peer
from tests.pki import TlsFiles

BLACKBOX_DEFAULT_CONFIG = Path("/etc/prometheus/blackbox.yml")


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class PrometheusPeer(Peer):
    """A Prometheus server; `query` runs an instant query and returns `data.result`."""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query through /api/v1/query; raises on an error answer."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5.0)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {response.status_code} {body}")
        return body["data"]["result"]

    def wait_for(self, expr: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Repeat `query(expr)` until it returns a non-empty result. Scrapes happen every second, but the
        first one comes ~5 s after start: Prometheus hands new targets to its scrapers every 5 s."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(expr)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr!r} still empty after {timeout} s")
            time.sleep(0.2)
        return result


@pytest.fixture
def prometheus_factory(peer_stack: PeerStack) -> Callable[..., PrometheusPeer]:
    """`prometheus_factory(targets, *, job=, metrics_path=, scheme=, scrape_configs=, rule_files=, extra_args=)`:
    a Prometheus scraping `targets` ("host:port" or a list of them) and evaluating `rule_files` every second."""
    binary = require_peer("prometheus", "Prometheus server for scrape and query tests")

    def make(
        targets: str | Sequence[str] = (),
        *,
        job: str = "pm-test",
        metrics_path: str = "/metrics",
        scheme: str = "http",
        scrape_configs: Sequence[Mapping[str, Any]] | None = None,
        rule_files: Sequence[Path] = (),
        extra_args: Sequence[str] = (),
    ) -> PrometheusPeer:
        base = peer_stack.tmpdir("prometheus")
        port = free_port()
        if scrape_configs is None:
            static = [targets] if isinstance(targets, str) else list(targets)
            scrape_configs = [
                {
                    "job_name": job,
                    "metrics_path": metrics_path,
                    "scheme": scheme,
                    "static_configs": [{"targets": static}],
                }
            ]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [dict(c) for c in scrape_configs],
            "rule_files": [str(f) for f in rule_files],
        }
        url = f"http://127.0.0.1:{port}"
        peer = PrometheusPeer(
            name="prometheus",
            argv=[
                binary,
                f"--config.file={_write_yaml(base / 'prometheus.yml', config)}",
                f"--storage.tsdb.path={base / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *extra_args,
            ],
            log_path=base / "prometheus.log",
            url=url,
            ready_url=f"{url}/-/ready",
            ready_status=is_200,
        )
        peer_stack.start(peer)
        return peer

    return make


ALERTMANAGER_DEFAULT_CONFIG: dict[str, Any] = {
    "route": {"receiver": "null", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
    "receivers": [{"name": "null"}],
}


@pytest.fixture
def alertmanager_factory(peer_stack: PeerStack) -> Callable[..., Peer]:
    """`alertmanager_factory(config=None, *, extra_args=())`: an Alertmanager (non-clustered) whose
    external URL is its own address; `config` is the alertmanager.yml content as a dict."""
    binary = require_peer("prometheus-alertmanager", "Alertmanager for alert delivery tests")

    def make(config: Mapping[str, Any] | None = None, *, extra_args: Sequence[str] = ()) -> Peer:
        base = peer_stack.tmpdir("alertmanager")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config_file = _write_yaml(base / "alertmanager.yml", dict(config or ALERTMANAGER_DEFAULT_CONFIG))
        peer = Peer(
            name="alertmanager",
            argv=[
                binary,
                f"--config.file={config_file}",
                f"--storage.path={base / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # empty: no gossip listener on 0.0.0.0:9094
                f"--web.external-url={url}/",
                *extra_args,
            ],
            log_path=base / "alertmanager.log",
            url=url,
            ready_url=f"{url}/-/ready",
            ready_status=is_200,
        )
        return peer_stack.start(peer)

    return make


@pytest.fixture
def alertmanager(alertmanager_factory: Callable[..., Peer]) -> Peer:
    """An Alertmanager with a single do-nothing receiver."""
    return alertmanager_factory()




@dataclass
class RegistryPeer(Peer):
    """A Docker registry; `auth` is the first user's (name, password) when htpasswd auth is on,
    `tls` the certificates it serves HTTPS with (None: plain HTTP)."""

    auth: tuple[str, str] | None = None
    debug_url: str = ""
    storage_dir: Path | None = None
    tls: TlsFiles | None = None


def htpasswd_line(user: str, password: str) -> str:
    """`user:<bcrypt hash>` as the registry's htpasswd auth reads it (htpasswd -B, else Python bcrypt)."""
    binary = shutil.which("htpasswd")
    if binary:
        out = subprocess.run([binary, "-Bbn", user, password], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    try:
        import bcrypt  # optional: only needed where apache2-utils is absent
    except ImportError:
        peer_missing("htpasswd (Debian package apache2-utils) or Python bcrypt, for registry auth")
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"


@pytest.fixture
def docker_registry_factory(peer_stack: PeerStack) -> Callable[..., RegistryPeer]:
    """`docker_registry_factory(users=None, *, realm="pm-test", debug=False, config_overrides=None,
    tls=None, client_certs=False)`: a registry on filesystem storage; `users` ({name: password})
    turns on htpasswd auth, `debug` the debug server (/debug/health, /metrics) at `.debug_url`,
    `tls` (TlsFiles) serves HTTPS with its server certificate, and `client_certs` then also
    requires a client certificate signed by its CA (`http.tls.clientcas`). `.ready_client` holds
    the httpx `verify=` that trusts it (with the client certificate), for the tests' own pushes."""
    binary = require_peer("docker-registry", "Docker registry (distribution 2.8) for registry probe tests")

    def make(
        users: Mapping[str, str] | None = None,
        *,
        realm: str = "pm-test",
        debug: bool = False,
        config_overrides: Mapping[str, Any] | None = None,
        tls: TlsFiles | None = None,
        client_certs: bool = False,
    ) -> RegistryPeer:
        if client_certs and tls is None:
            raise ValueError("client_certs needs tls")
        base = peer_stack.tmpdir("registry")
        port = free_port()
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {"filesystem": {"rootdirectory": str(base / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        debug_url = ""
        if debug:
            debug_port = free_port()
            debug_url = f"http://127.0.0.1:{debug_port}"
            config["http"]["debug"] = {
                "addr": f"127.0.0.1:{debug_port}",
                "prometheus": {"enabled": True, "path": "/metrics"},
            }
        if users:
            htpasswd = base / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
            config["auth"] = {"htpasswd": {"realm": realm, "path": str(htpasswd)}}
        ready_client: dict[str, Any] = {}
        if tls is not None:
            config["http"]["tls"] = {"certificate": tls.cert_file, "key": tls.key_file}
            if client_certs:
                config["http"]["tls"]["clientcas"] = [tls.ca_file]
            ready_client["verify"] = tls.client_context(client_cert=client_certs)
        config = _deep_merge(config, config_overrides or {})
        peer = RegistryPeer(
            name="docker-registry",
            argv=[binary, "serve", str(_write_yaml(base / "config.yml", config))],
            log_path=base / "registry.log",
            url=url,
            ready_url=f"{url}/v2/",  # 200, or 401 with auth on
            ready_client=ready_client,
            auth=next(iter(users.items())) if users else None,
            debug_url=debug_url,
            storage_dir=base / "storage",
            tls=tls,
        )
        peer_stack.start(peer)
        return peer

    return make


@dataclass
class EtcdPeer(Peer):
    """An etcd member; `url` is the client URL (https with TLS), `metrics_url` is always plain http
    and serves /health and /metrics without a client certificate."""

    metrics_url: str = ""
    ca_file: str | None = None
    client_cert: tuple[str, str] | None = None  # (cert, key) to present under mutual TLS


@pytest.fixture
def etcd_factory(peer_stack: PeerStack) -> Callable[..., EtcdPeer]:
    """`etcd_factory(*, cert_file=None, key_file=None, ca_file=None, extra_args=())`: a one-member
    etcd cluster. cert+key serve TLS on the client port; with `ca_file` too, clients must present a
    certificate signed by it (mutual TLS)."""
    binary = require_peer("etcd", "etcd for control-plane probe tests")

    def make(
        *,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> EtcdPeer:
        if (cert_file is None) != (key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        base = peer_stack.tmpdir("etcd")
        client_port, peer_port, metrics_port = free_port(), free_port(), free_port()
        scheme = "https" if cert_file else "http"
        url = f"{scheme}://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        tls_args: list[str] = []
        if cert_file:
            tls_args = [f"--cert-file={cert_file}", f"--key-file={key_file}"]
            if ca_file:
                tls_args += ["--client-cert-auth", f"--trusted-ca-file={ca_file}"]
        env = {}
        if platform.machine() in ("aarch64", "arm64"):
            env["ETCD_UNSUPPORTED_ARCH"] = "arm64"  # etcd 3.4 refuses to start there without it
        peer = EtcdPeer(
            name="etcd",
            argv=[
                binary,
                "--name=pm-test",
                f"--data-dir={base / 'data'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=pm-test={peer_url}",
                f"--listen-metrics-urls={metrics_url}",
                "--logger=zap",
                *tls_args,
                *extra_args,
            ],
            log_path=base / "etcd.log",
            url=url,
            ready_url=f"{metrics_url}/health",  # 503 until a leader is elected
            ready_status=is_200,
            env=env,
            metrics_url=metrics_url,
            ca_file=str(ca_file) if ca_file else None,
            client_cert=(str(cert_file), str(key_file)) if cert_file and ca_file else None,
        )
        peer_stack.start(peer)
        return peer

    return make




@pytest.fixture
def node_exporter_factory(peer_stack: PeerStack) -> Callable[..., Peer]:
    """`node_exporter_factory(*, extra_args=())`: a node exporter without the systemd collector."""
    binary = require_peer("prometheus-node-exporter", "node exporter for node-agent probe tests")

    def make(*, extra_args: Sequence[str] = ()) -> Peer:
        base = peer_stack.tmpdir("node-exporter")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [binary, f"--web.listen-address=127.0.0.1:{port}", "--no-collector.systemd", *extra_args]
        peer = Peer(name="node-exporter", argv=argv, log_path=base / "node-exporter.log", url=url,
                    ready_url=f"{url}/metrics", ready_status=is_200)
        return peer_stack.start(peer)

    return make


@pytest.fixture
def node_exporter(node_exporter_factory: Callable[..., Peer]) -> Peer:
    """A node exporter with its default collectors (systemd's excepted)."""
    return node_exporter_factory()


@dataclass
class BlackboxPeer(Peer):
    """A blackbox exporter; `probe` returns the unlabelled samples of one /probe call."""

    def probe(self, target: str, module: str = "http_2xx") -> dict[str, float]:
        """GET /probe (which answers 200 even when the probe fails: read `probe_success`)."""
        response = httpx.get(f"{self.url}/probe", params={"target": target, "module": module}, timeout=15.0)
        response.raise_for_status()
        samples: dict[str, float] = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples


@pytest.fixture
def blackbox_exporter_factory(peer_stack: PeerStack) -> Callable[..., BlackboxPeer]:
    """`blackbox_exporter_factory(config_path=/etc/prometheus/blackbox.yml)`: a blackbox exporter."""
    binary = require_peer("prometheus-blackbox-exporter", "blackbox exporter for probe comparison tests")

    def make(config_path: str | os.PathLike[str] = BLACKBOX_DEFAULT_CONFIG) -> BlackboxPeer:
        base = peer_stack.tmpdir("blackbox")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [binary, f"--config.file={config_path}", f"--web.listen-address=127.0.0.1:{port}"]
        peer = BlackboxPeer(name="blackbox-exporter", argv=argv, log_path=base / "blackbox.log", url=url,
                            ready_url=f"{url}/-/healthy", ready_status=is_200)
        peer_stack.start(peer)
        return peer

    return make


@pytest.fixture
def blackbox_exporter(blackbox_exporter_factory: Callable[..., BlackboxPeer]) -> BlackboxPeer:
    """A blackbox exporter with Debian's example modules (http_2xx, tcp_connect, ...)."""
    return blackbox_exporter_factory()


NGINX_CONF = """\
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {base}/access.log;
    client_body_temp_path {base}/client_body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        {locations}
    }}
}}
"""


@pytest.fixture
def nginx_factory(peer_stack: PeerStack) -> Callable[..., Peer]:
    """`nginx_factory(*, status=200, body="ok\\n", locations=None)`: nginx answering `status` and
    `body` on every path; `locations` replaces that with your own `location` blocks."""
    binary = require_peer("nginx", "nginx as a plain HTTP target")

    def make(*, status: int = 200, body: str = "ok\n", locations: str | None = None) -> Peer:
        base = peer_stack.tmpdir("nginx")
        port = free_port()
        if locations is None:
            quoted = body.replace("\\", "\\\\").replace('"', '\\"')
            locations = f'location / {{ return {status} "{quoted}"; }}'
        conf = base / "nginx.conf"
        conf.write_text(NGINX_CONF.format(base=base, port=port, locations=locations))
        argv = [binary, "-p", f"{base}/", "-c", str(conf), "-e", str(base / "error.log"), "-g", "daemon off;"]
        peer = Peer(name="nginx", argv=argv, log_path=base / "nginx.log", url=f"http://127.0.0.1:{port}",
                    ready_port=port)
        return peer_stack.start(peer)

    return make
