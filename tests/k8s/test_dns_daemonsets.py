"""Cluster DNS and kube-system DaemonSets: CoreDNS pods ready, a real query for
kubernetes.default.svc.<domain> against a small local DNS server standing in for the cluster DNS
Service, and DaemonSets desired vs ready."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from probes.base import Status
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_apiserver import daemonset_object, dns_pod


class TinyDns:
    """UDP DNS on 127.0.0.1 answering `kubernetes.default.svc.cluster.local. A 10.96.0.1`, NXDOMAIN else."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name == "kubernetes.default.svc.cluster.local.":
                response.answer.append(dns.rrset.from_text(name, 5, "IN", "A", "10.96.0.1"))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tiny_dns() -> Iterator[TinyDns]:
    server = TinyDns()
    yield server
    server.close()


async def test_dns_query_against_the_cluster_dns(apiserver, harness_factory, tiny_dns):
    kubeconfig = apiserver.write_kubeconfig()
    h = await harness_factory(cluster_config(kubeconfig, dns_server=f"127.0.0.1:{tiny_dns.port}"), discover=False)
    result = (await h.run(["prod-a/dns/query"]))["prod-a/dns/query"]
    assert result.status == Status.UP, result.reason
    assert result.reason == "kubernetes.default.svc.cluster.local. → 10.96.0.1"
    assert tiny_dns.queries == 1
    assert h.engine.checks["prod-a/dns/query"].depends_on == []  # a fixed server needs no apiserver

    other = await harness_factory(cluster_config(kubeconfig, dns_server=f"127.0.0.1:{tiny_dns.port}",
                                                 cluster_domain="corp.internal"), discover=False)
    wrong = (await other.run(["prod-a/dns/query"]))["prod-a/dns/query"]
    assert wrong.status == Status.DOWN
    assert wrong.reason == f"kubernetes.default.svc.corp.internal.: NXDOMAIN from 127.0.0.1:{tiny_dns.port}"


async def test_dns_server_from_the_kube_dns_service(apiserver, harness_factory):
    # 127.0.0.1 port 53 has no DNS server here: the query fails, after the ClusterIP came from the API
    apiserver.state.dns_service_ip = "127.0.0.1"
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), timeout="1s",
                                             probes={"dns_query": True}), discover=False)
    result = (await h.run(["prod-a/dns/query"]))["prod-a/dns/query"]
    assert result.status == Status.DOWN
    assert "127.0.0.1:53" in result.reason
    assert apiserver.hits("/api/v1/namespaces/kube-system/services/kube-dns") == 1
    assert h.engine.checks["prod-a/dns/query"].depends_on == ["prod-a/control-plane/apiserver-livez"]


async def test_coredns_pods_and_daemonsets(apiserver, harness_factory):
    state = apiserver.state
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()), discover=False)
    ids = ["prod-a/dns/coredns-pods", "prod-a/nodes/daemonsets"]
    results = await h.run(ids)
    assert results[ids[0]].reason == "2/2 DNS pods ready" and results[ids[0]].status == Status.UP
    assert results[ids[1]].status == Status.UP

    state.dns_pods[1] = dns_pod("coredns-7db6d8ff4d-9lq7m", "node-2", ready=False)
    state.daemonsets[1] = daemonset_object("calico-node", 3, 2)
    results = await h.run(ids)
    assert results[ids[0]].status == Status.DEGRADED
    assert results[ids[0]].reason == "1/2 DNS pods ready; not ready: coredns-7db6d8ff4d-9lq7m"
    assert results[ids[1]].status == Status.DEGRADED
    assert results[ids[1]].reason == "calico-node 2/3 ready"
    assert results[ids[1]].details["daemonsets"]["kube-proxy"] == {"desired": 3, "ready": 3}

    state.dns_pods = []
    state.daemonsets[0] = daemonset_object("kube-proxy", 3, 0)
    results = await h.run(ids)
    assert results[ids[0]].status == Status.DOWN and results[ids[0]].reason.startswith("no DNS pods")
    assert results[ids[1]].status == Status.DOWN
    assert results[ids[1]].reason == "calico-node 2/3 ready, kube-proxy 0/3 ready"
