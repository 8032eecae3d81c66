"""Cluster control-plane checks against the fake apiserver, through kr8s's real credential loading:
a healthy cluster, etcd readiness failing, a stale scheduler Lease, a flapping leader, the apiserver
gone, and the monitor lacking rights (401/403: misconfigured, never down)."""

from __future__ import annotations

from probes.base import Status
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_apiserver import lease_object

CP = "prod-a/control-plane"


def statuses(results) -> dict[str, str]:
    return {cid: r.status.value for cid, r in results.items()}


async def test_healthy_cluster_every_check_up(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    ids = await h.wait_checks(lambda ids: "prod-a/nodes/node-3" in ids and f"{CP}/readyz-informer-sync" in ids)
    results = await h.run()
    assert set(statuses(results).values()) == {"up"}, {k: r.reason for k, r in results.items() if r.status != "up"}
    # one check per readiness sub-check, etcd's under <cluster>/etcd, '/' spelled ':'
    assert {"prod-a/etcd/readyz-etcd", "prod-a/etcd/readyz-etcd-readiness",
            f"{CP}/readyz-poststarthook:rbac:bootstrap-roles", f"{CP}/readyz-ping"} <= ids
    assert {f"{CP}/apiserver-livez", f"{CP}/apiserver-readyz", f"{CP}/kube-scheduler-lease",
            f"{CP}/kube-controller-manager-lease", "prod-a/dns/coredns-pods", "prod-a/nodes/daemonsets",
            "prod-a/nodes/node-1", "prod-a/nodes/node-1:runtime"} <= ids
    checks = h.engine.checks
    assert checks[f"{CP}/apiserver-livez"].depends_on == []
    assert checks["prod-a/nodes/node-2"].depends_on == [f"{CP}/apiserver-livez"]
    readyz = results[f"{CP}/apiserver-readyz"]
    assert readyz.details["checks"]["etcd"] == "ok" and readyz.details["http_status"] == 200
    assert "cp-1_6f0a2c1e-5d4b" in results[f"{CP}/kube-scheduler-lease"].reason


async def test_etcd_readiness_failing_names_the_subcheck(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h.wait_checks(lambda ids: "prod-a/etcd/readyz-etcd" in ids)
    apiserver.state.readyz_failed["etcd"] = "etcd client connection not yet established"
    # sub-checks share the last /readyz answer (up to half an interval old): the readyz check's
    # fresh answer replaces it
    readyz = (await h.run([f"{CP}/apiserver-readyz"]))[f"{CP}/apiserver-readyz"]
    results = await h.run()
    assert readyz.status == Status.DOWN
    assert readyz.reason == "readyz failed: etcd"
    assert readyz.details["checks"]["etcd"] == "failed: reason withheld"
    etcd = results["prod-a/etcd/readyz-etcd"]
    # the per-check path gives the real reason the verbose list withholds
    assert etcd.status == Status.DOWN
    assert etcd.reason == "failed: internal server error: etcd client connection not yet established"
    assert results[f"{CP}/readyz-informer-sync"].status == Status.UP
    assert results["prod-a/etcd/readyz-etcd-readiness"].status == Status.UP
    assert results["prod-a/nodes/node-1"].status == Status.UP  # the apiserver still answers


async def test_stale_scheduler_lease_is_down_and_flapping_is_degraded(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()), discover=False)
    leases = apiserver.state.leases
    leases["kube-scheduler"] = lease_object("kube-scheduler", "kube-system", "cp-2_aa", duration=15,
                                            renewed_ago=95, transitions=2)
    results = await h.run()
    stale = results[f"{CP}/kube-scheduler-lease"]
    assert stale.status == Status.DOWN
    assert stale.reason == ("no leader: Lease kube-system/kube-scheduler not renewed for 95s "
                            "(lease duration 15s, holder cp-2_aa)")
    assert results[f"{CP}/kube-controller-manager-lease"].status == Status.UP
    # renewTime within duration + skew (15 s + 10 s) counts as held
    leases["kube-scheduler"] = lease_object("kube-scheduler", "kube-system", "cp-2_aa", duration=15,
                                            renewed_ago=22, transitions=2)
    assert (await h.run([f"{CP}/kube-scheduler-lease"]))[f"{CP}/kube-scheduler-lease"].status == Status.UP
    for transitions, holder in ((3, "cp-1_bb"), (4, "cp-3_cc"), (5, "cp-2_dd")):
        leases["kube-scheduler"] = lease_object("kube-scheduler", "kube-system", holder, duration=15,
                                                renewed_ago=1, transitions=transitions)
        result = (await h.run([f"{CP}/kube-scheduler-lease"]))[f"{CP}/kube-scheduler-lease"]
    assert result.status == Status.DEGRADED
    assert result.reason.startswith("leader flapping: 3 leader changes in 15m")
    del leases["kube-controller-manager"]
    gone = (await h.run([f"{CP}/kube-controller-manager-lease"]))[f"{CP}/kube-controller-manager-lease"]
    assert gone.status == Status.DOWN and "not found" in gone.reason


async def test_apiserver_down_makes_dependents_unknown_not_down(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h.wait_checks(lambda ids: "prod-a/nodes/node-3" in ids and "prod-a/etcd/readyz-etcd" in ids)
    assert set(statuses(await h.run()).values()) == {"up"}
    apiserver.stop()
    # the first failure drops the shared lists (a node check run just before it may still see them)
    await h.run([f"{CP}/apiserver-livez"])
    results = await h.run()
    livez = results[f"{CP}/apiserver-livez"]
    assert livez.status == Status.DOWN and livez.reason == "apiserver unreachable: connection refused"
    assert results[f"{CP}/apiserver-readyz"].status == Status.DOWN
    dependents = {cid: r for cid, r in results.items() if not cid.startswith(f"{CP}/apiserver-")}
    assert len(dependents) > 10
    for cid, result in dependents.items():
        assert result.status == Status.UNKNOWN, (cid, result.reason)
        assert result.reason == "apiserver unreachable: connection refused", cid
    # discovery keeps the known nodes while the apiserver does not answer
    await h.discovery._refresh(h.engine.config.clusters[0])
    assert "prod-a/nodes/node-3" in h.engine.checks


async def test_unauthorized_and_forbidden_are_misconfigured(apiserver, harness_factory):
    wrong = apiserver.write_kubeconfig(token="expired-or-wrong-token", name="wrong")
    h = await harness_factory(cluster_config(wrong), discover=False)
    results = await h.run()
    assert set(statuses(results).values()) == {"unknown"}
    livez = results[f"{CP}/apiserver-livez"]
    assert livez.reason.startswith("misconfigured: unauthorized (401)") and livez.details["misconfigured"]

    apiserver.state.forbidden = {"/readyz", "/api/v1/nodes"}
    h2 = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h2.wait_checks(lambda ids: f"{CP}/apiserver-readyz" in ids)
    results = await h2.run()
    readyz = results[f"{CP}/apiserver-readyz"]
    assert readyz.status == Status.UNKNOWN
    assert readyz.reason.startswith('misconfigured: forbidden (403): forbidden: User "system:serviceaccount:')
    assert results[f"{CP}/apiserver-livez"].status == Status.UP
    assert results[f"{CP}/kube-scheduler-lease"].status == Status.UP
    assert not [cid for cid in h2.engine.checks if cid.startswith("prod-a/nodes/node-")]  # none discoverable


async def test_client_certificate_and_in_cluster_service_account(apiserver, harness_factory, monkeypatch):
    by_cert = await harness_factory(cluster_config(apiserver.write_kubeconfig(client_cert=True)), discover=False)
    assert (await by_cert.run([f"{CP}/apiserver-livez"]))[f"{CP}/apiserver-livez"].status == Status.UP

    sa = apiserver.write_service_account()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(apiserver.port))
    config = cluster_config(None, in_cluster=True, service_account_dir=str(sa), dns_server="127.0.0.1:9")
    in_cluster = await harness_factory(config, discover=False)
    results = await in_cluster.run([f"{CP}/apiserver-readyz", f"{CP}/kube-scheduler-lease"])
    assert {r.status for r in results.values()} == {Status.UP}, {k: r.reason for k, r in results.items()}
