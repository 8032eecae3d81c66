"""Resource checks (any kind judged by status.conditions) against the fake apiserver: CloudNativePG
Clusters in one namespace and cert-manager Certificates in all, Ready=False with its reason and
message, a missing condition, a stale observedGeneration (object-level and on the condition), a
kind the cluster does not serve, and one LIST per kind per cluster per interval."""

from __future__ import annotations

from probes.base import Status
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_objects import certificate, cnpg_cluster

RES = "prod-a/resources"
ENTRIES = [
    {"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "namespace": "data", "conditions": {"Ready": True}},
    {"api_version": "cert-manager.io/v1", "kind": "Certificate", "namespace": "*", "conditions": {"Ready": "True"}},
]


async def test_conditions_judged(apiserver, harness_factory):
    state = apiserver.state
    no_status = certificate("pending", "paas")
    no_status["status"] = {}
    state.put(cnpg_cluster("pg-main", "data"), cnpg_cluster("pg-analytics", "data", ready=False),
              cnpg_cluster("pg-stale", "data", generation=3, observed=2),
              cnpg_cluster("pg-other", "staging"),  # another namespace: not watched
              certificate("web-tls", "paas"),
              certificate("api-tls", "paas", ready=False, reason="DoesNotExist",
                          message="Issuing certificate as Secret does not exist"),
              certificate("grafana-tls", "monitoring", generation=2, observed=1),
              no_status)
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), resources=ENTRIES))
    ids = await h.wait_checks(lambda ids: f"{RES}/monitoring.certificate.grafana-tls" in ids
                              and f"{RES}/data.cluster.pg-main" in ids)
    mine = sorted(i for i in ids if i.startswith(RES))
    assert mine == [f"{RES}/data.cluster.{n}" for n in ("pg-analytics", "pg-main", "pg-stale")] + [
        f"{RES}/monitoring.certificate.grafana-tls",
        *(f"{RES}/paas.certificate.{n}" for n in ("api-tls", "pending", "web-tls"))]
    r = {cid.rsplit("/", 1)[1]: res for cid, res in (await h.run(mine)).items()}
    assert (r["data.cluster.pg-main"].status, r["data.cluster.pg-main"].reason) == (Status.UP, "Ready=True")
    assert r["data.cluster.pg-analytics"].status == Status.DOWN
    assert r["data.cluster.pg-analytics"].reason == "Ready=False: ClusterIsNotReady: Cluster Is Not Ready"
    assert r["data.cluster.pg-stale"].status == Status.DEGRADED
    assert r["data.cluster.pg-stale"].reason == "stale: status.observedGeneration 2 < metadata.generation 3"
    assert r["paas.certificate.web-tls"].status == Status.UP
    assert r["paas.certificate.api-tls"].status == Status.DOWN
    assert r["paas.certificate.api-tls"].reason == (
        "Ready=False: DoesNotExist: Issuing certificate as Secret does not exist")
    assert r["monitoring.certificate.grafana-tls"].status == Status.DEGRADED
    assert r["monitoring.certificate.grafana-tls"].reason == (
        "stale: condition Ready observedGeneration 1 < generation 2")
    assert r["paas.certificate.pending"].status == Status.DOWN
    assert r["paas.certificate.pending"].reason == "condition Ready not reported"
    assert r["data.cluster.pg-analytics"].details["conditions"]["ContinuousArchiving"]["status"] == "True"


async def test_one_list_per_kind_and_retired(apiserver, harness_factory):
    state = apiserver.state
    for i in range(40):
        state.put(certificate(f"cert-{i:02}", f"team-{i % 8}"))
    state.unserved.add("postgresql.cnpg.io/v1")  # CloudNativePG not installed in this cluster
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), interval="4s", resources=ENTRIES))
    await h.wait_checks(lambda ids: len([i for i in ids if i.startswith(RES)]) == 40)
    mine = [cid for cid in h.engine.checks if cid.startswith(RES)]
    before = apiserver.hits("/apis/cert-manager.io/v1/certificates")
    for _ in range(3):
        results = await h.run(mine)
        assert {r.status for r in results.values()} == {Status.UP}
    assert apiserver.hits("/apis/cert-manager.io/v1/certificates") - before == 0  # discovery's one LIST serves all
    assert apiserver.hits("/apis/cert-manager.io/v1/namespaces") == 0  # cluster-wide, not per namespace
    assert apiserver.state.hits["/apis/cert-manager.io/v1"] == 1  # Certificate → certificates, kept 10 min

    state.delete(state.objects[("cert-manager.io/v1", "certificates")][0])
    state.unserved.clear()
    state.put(cnpg_cluster("pg-main", "data"))
    await h.wait_checks(lambda ids: f"{RES}/team-0.certificate.cert-00" not in ids)
    # the missing group is asked again after a while (DISCOVERY_TTL / 10), not on every interval
    assert f"{RES}/data.cluster.pg-main" not in h.engine.checks


async def test_forbidden_list_is_misconfigured(apiserver, harness_factory):
    apiserver.state.put(certificate("web-tls", "paas"))
    kubeconfig = apiserver.write_kubeconfig()
    h = await harness_factory(cluster_config(kubeconfig, resources=ENTRIES[1:]))
    await h.wait_checks(lambda ids: f"{RES}/paas.certificate.web-tls" in ids)
    found = h.engine.discovered["cluster:prod-a:resources"]
    apiserver.state.forbidden = {"/apis/cert-manager.io/v1/certificates"}
    fresh = await harness_factory(cluster_config(kubeconfig, resources=ENTRIES[1:]), discover=False)
    fresh.engine.set_discovered("cluster:prod-a:resources", found)
    result = (await fresh.run([f"{RES}/paas.certificate.web-tls"]))[f"{RES}/paas.certificate.web-tls"]
    assert result.status == Status.UNKNOWN
    assert result.reason == ('misconfigured: forbidden (403): forbidden: User "system:serviceaccount:monitoring:'
                             'platform-monitor" cannot get path "/apis/cert-manager.io/v1/certificates"')
