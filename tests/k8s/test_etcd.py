"""The `etcd` kind against the real Debian etcd-server (plain, mutual TLS, a real NOSPACE alarm from
a tiny quota) and a test double for what one member cannot be made to say (RAFT NO LEADER, failed
readyz checks, no leader in /metrics)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from monitor.config import parse_config
from probes import PROBES
from probes.base import ProbeContext, Result, Status
from probes.clients import ClientPool

pytestmark = pytest.mark.peer("etcd")


async def run_etcd(**settings) -> Result:
    check = PROBES["etcd"].model(name="members", component="etcd", **settings)
    pool = ClientPool()
    try:
        return await PROBES["etcd"].probe(check, ProbeContext(logging.getLogger("test"), pool))
    finally:
        await pool.aclose()


class EtcdDouble:
    """Answers /health, /readyz and /metrics as a sick etcd member does; `answers` maps path → (status, body)."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers = answers
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = double.answers.get(self.path.split("?")[0], (404, "404 page not found\n"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def double() -> Iterator:
    made: list[EtcdDouble] = []

    def make(answers: dict[str, tuple[int, str]]) -> EtcdDouble:
        made.append(EtcdDouble(answers))
        return made[-1]

    yield make
    for d in made:
        d.server.shutdown()
        d.server.server_close()


async def test_plain_member_and_majority_rules(etcd_factory, double):
    etcd = etcd_factory()
    result = await run_etcd(endpoints=[etcd.url])
    assert result.status == Status.UP, result.reason
    member = result.details["members"][etcd.url]
    assert member["has_leader"] is True and set(result.details["phases"]) == {"health", "readyz", "metrics"}

    sick = double({"/health": (503, json.dumps({"health": "false", "reason": "RAFT NO LEADER"}))})
    # the metrics URL serves /health and /metrics too: two healthy endpoints of three
    three = await run_etcd(endpoints=[etcd.url, etcd.metrics_url, sick.url])
    assert three.status == Status.DEGRADED
    assert three.reason == f"1 of 3 unhealthy: {sick.url}: RAFT NO LEADER"
    alone = await run_etcd(endpoints=[sick.url])
    assert alone.status == Status.DOWN and alone.reason == f"{sick.url}: RAFT NO LEADER"


async def test_readyz_and_metrics_failures_from_a_double(double):
    readyz = double({"/health": (200, '{"health":"true","reason":""}'),
                     "/readyz": (503, "[+]data_corruption ok\n[+]serializable_read ok\n"
                                      "[-]linearizable_read failed: etcdserver: leader changed\n"
                                      "readyz check failed\n")})
    result = await run_etcd(endpoints=[readyz.url])
    assert result.status == Status.DOWN
    assert result.reason == f"{readyz.url}: readyz failed: linearizable_read (failed: etcdserver: leader changed)"
    leaderless = double({"/health": (200, '{"health":"true"}'), "/readyz": (200, "ok\n"),
                         "/metrics": (200, "# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 0\n")})
    result = await run_etcd(endpoints=[leaderless.url])
    assert result.status == Status.DOWN and result.reason.endswith("no leader (etcd_server_has_leader 0)")


async def test_mutual_tls(etcd_factory, tmp_path):
    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("pm-client", common_name="pm-client")
    paths = {n: str(tmp_path / f"{n}.pem") for n in ("ca", "cert", "key", "ccert", "ckey")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    client.cert_chain_pems[0].write_to_path(paths["ccert"])
    client.private_key_pem.write_to_path(paths["ckey"])
    etcd = etcd_factory(cert_file=paths["cert"], key_file=paths["key"], ca_file=paths["ca"])

    config = parse_config(f"""
checks:
  - {{name: members, component: etcd, kind: etcd, endpoints: ["{etcd.url}"],
     ca: {paths['ca']}, cert: {paths['ccert']}, key: {paths['ckey']}}}
""", env={})
    check = config.checks[0]
    pool = ClientPool()
    result = await PROBES["etcd"].probe(check, ProbeContext(logging.getLogger("test"), pool))
    await pool.aclose()
    assert result.status == Status.UP, result.reason
    assert "key" in check.secret_fields
    without_cert = await run_etcd(endpoints=[etcd.url], ca=paths["ca"])
    assert without_cert.status == Status.DOWN  # TLS 1.3: the missing certificate shows as a read error
    assert without_cert.reason.startswith(etcd.url)


async def test_real_nospace_alarm(etcd_factory):
    etcd = etcd_factory(extra_args=["--quota-backend-bytes=65536"])
    value = "AAAA" * 1000  # 3 000 zero bytes, base64
    # the quota is checked against the committed backend size, which grows with etcd's batched
    # commits (every 100 ms): on a loaded machine it takes more writes, so write until it trips
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=5) as http:
        for i in itertools.count():
            put = await http.post(f"{etcd.url}/v3/kv/put", json={"key": _b64(f"k{i}"), "value": value})
            if "database space exceeded" in put.json().get("message", ""):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no NOSPACE after {i + 1} writes in 30 s")
            await asyncio.sleep(0.02)
    result = await run_etcd(endpoints=[etcd.url])
    assert result.status == Status.DOWN
    assert result.reason == f"{etcd.url}: ALARM NOSPACE"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
