"""Direct component health (`k8s_healthz`): kube-proxy's JSON /healthz judged by status code only,
a scheduler's verbose failure list, and the kube-proxy checks discovery makes from InternalIPs."""

from __future__ import annotations

import logging

from monitor.clusters import ClusterConfig, node_checks
from probes import PROBES
from probes.base import ProbeContext, Status
from probes.clients import ClientPool
from tests.k8s.fake_apiserver import node_object
from tests.targets import HttpTarget


async def run(url: str):
    check = PROBES["k8s_healthz"].model(name="kube-proxy", component="c/nodes", url=url)
    pool = ClientPool()
    try:
        return await PROBES["k8s_healthz"].probe(check, ProbeContext(logging.getLogger("test"), pool))
    finally:
        await pool.aclose()


async def test_status_code_decides():
    target = HttpTarget()
    try:
        # Go's time.String() timestamps, as kube-proxy writes them: never parsed
        target.behaviour.body = (b'{"lastUpdated": "2026-01-01 10:00:00.1 +0000 UTC m=+12.3",'
                                 b'"currentTime": "2026-01-01 10:00:05.2 +0000 UTC m=+17.4", "nodeEligible": true}')
        assert (await run(f"{target.url}/healthz")).status == Status.UP
        target.behaviour.status = 503
        result = await run(f"{target.url}/healthz")
        assert result.status == Status.DOWN and result.reason == "HTTP 503"
        target.behaviour.status, target.behaviour.body = 500, (
            b"[+]ping ok\n[-]leaderElection failed: reason withheld\nhealthz check failed\n")
        result = await run(f"{target.url}/healthz")
        assert result.reason == "HTTP 500: failed leaderElection"
    finally:
        target.close()
    refused = await run(f"{target.url}/healthz")
    assert refused.status == Status.DOWN and refused.reason == "connection refused"


def test_kube_proxy_checks_follow_node_addresses():
    cluster = ClusterConfig(name="c", probes={"kube_proxy": True, "node_runtime": False})
    checks = node_checks(cluster, [node_object("n1", "10.0.0.11"), node_object("n2", "fd00::12")])
    urls = {c.id: getattr(c, "url", None) for c in checks}
    assert urls == {"c/nodes/n1": None, "c/nodes/n1:kube-proxy": "http://10.0.0.11:10256/healthz",
                    "c/nodes/n2": None, "c/nodes/n2:kube-proxy": "http://[fd00::12]:10256/healthz"}
