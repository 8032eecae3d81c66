"""Node checks against the fake apiserver: NotReady and Unknown told apart, the container runtime,
a stale node Lease, pressure, kubelet through the node proxy, nodes added and removed (retired
with their history kept), and one shared list request for many node checks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.engine import Engine
from probes.base import Status
from storage.db import create_db_engine
from storage.models import CheckRow, ResultRow
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_apiserver import lease_object, node_object

NODES = "prod-a/nodes"


async def test_not_ready_and_unknown_are_different_reasons(apiserver, harness_factory):
    state = apiserver.state
    state.nodes["node-2"] = node_object(
        "node-2", "10.0.0.12", ready="False", reason="KubeletNotReady",
        message="[container runtime is down, PLEG is not healthy: pleg was last seen active 3m2s ago]")
    state.nodes["node-3"] = node_object("node-3", "10.0.0.13", ready="Unknown")
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h.wait_checks(lambda ids: f"{NODES}/node-3:runtime" in ids)
    results = await h.run([cid for cid in h.engine.checks if cid.startswith(f"{NODES}/node-")])
    assert results[f"{NODES}/node-1"].status == Status.UP
    not_ready = results[f"{NODES}/node-2"]
    assert not_ready.status == Status.DOWN
    assert not_ready.reason.startswith("NotReady (KubeletNotReady: [container runtime is down")
    runtime = results[f"{NODES}/node-2:runtime"]
    assert runtime.status == Status.DOWN and runtime.reason.startswith("container runtime: [container runtime is down")
    assert runtime.details["container_runtime_version"] == "containerd://1.7.13"
    unknown = results[f"{NODES}/node-3"]
    assert unknown.status == Status.DOWN
    assert unknown.reason == ("Ready Unknown: node stopped reporting "
                              "(NodeStatusUnknown: Kubelet stopped posting node status.)")
    assert results[f"{NODES}/node-3:runtime"].status == Status.UNKNOWN  # cannot judge a silent node's runtime


async def test_heartbeat_from_node_lease_and_pressure(apiserver, harness_factory):
    state = apiserver.state
    # Ready=True with a 4-minute-old lastHeartbeatTime is normal; the Lease says whether kubelet is alive
    state.node_leases["node-1"] = lease_object("node-1", "kube-node-lease", "node-1", duration=40, renewed_ago=130)
    state.nodes["node-2"] = node_object("node-2", "10.0.0.12", pressure=("DiskPressure",))
    state.nodes["node-3"]["status"]["conditions"][0].update(status="True", reason="NoRouteCreated")
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h.wait_checks(lambda ids: f"{NODES}/node-3" in ids)
    results = await h.run([f"{NODES}/node-1", f"{NODES}/node-2", f"{NODES}/node-3"])
    stale = results[f"{NODES}/node-1"]
    assert stale.status == Status.DOWN and stale.reason == "heartbeat stale: node Lease renewed 130s ago"
    assert results[f"{NODES}/node-2"].status == Status.DEGRADED
    assert results[f"{NODES}/node-2"].reason == "DiskPressure"
    assert results[f"{NODES}/node-3"].status == Status.DOWN
    assert results[f"{NODES}/node-3"].reason == "NetworkUnavailable (NoRouteCreated)"


async def test_kubelet_through_the_node_proxy(apiserver, harness_factory):
    state = apiserver.state
    state.kubelet_healthz["node-2"] = (503, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 503,
        "message": "error trying to reach service: dial tcp 10.0.0.12:10250: connect: connection refused"})
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), probes={"kubelet": True}))
    await h.wait_checks(lambda ids: f"{NODES}/node-3:kubelet" in ids)
    kubelets = [f"{NODES}/node-{i}:kubelet" for i in (1, 2, 3)]
    results = await h.run(kubelets)
    assert results[kubelets[0]].status == Status.UP
    assert results[kubelets[1]].status == Status.DOWN
    assert results[kubelets[1]].reason == ("kubelet /healthz HTTP 503: error trying to reach service: "
                                           "dial tcp 10.0.0.12:10250: connect: connection refused")
    state.forbidden = {"/api/v1/nodes/node-3/proxy"}
    forbidden = (await h.run([kubelets[2]]))[kubelets[2]]
    assert forbidden.status == Status.UNKNOWN and forbidden.reason.startswith("misconfigured: forbidden (403)")


async def test_many_node_checks_share_one_list_request(apiserver, harness_factory):
    for i in range(4, 41):
        apiserver.state.add_node(f"node-{i}", f"10.0.1.{i}")
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()))
    await h.wait_checks(lambda ids: f"{NODES}/node-40:runtime" in ids)
    before = apiserver.hits("/api/v1/nodes")
    results = await h.run([cid for cid in h.engine.checks if cid.startswith(f"{NODES}/node-")])
    assert len(results) == 80 and {r.status for r in results.values()} == {Status.UP}
    assert apiserver.hits("/api/v1/nodes") - before <= 1  # discovery's list is still fresh
    assert apiserver.hits("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases") == 1


async def test_nodes_added_and_removed_history_kept(apiserver, harness_factory, tmp_path):
    db = create_db_engine(f"sqlite:///{tmp_path / 'pm.db'}")
    config = cluster_config(apiserver.write_kubeconfig(), interval="1s")
    h = await harness_factory(config, discover=False)
    h.engine = Engine(config, db=db)  # with storage this time
    from tests.k8s.conftest import discovery_of

    h.discovery = discovery_of(h.engine)
    await h.engine.start(schedule=False)
    await h.discovery.start()
    await h.wait_checks(lambda ids: f"{NODES}/node-1" in ids)
    await h.engine.runner.run(h.engine.checks[f"{NODES}/node-1"])  # a result to keep

    apiserver.state.add_node("node-4", "10.0.0.14")
    apiserver.state.remove_node("node-1")
    ids = await h.wait_checks(lambda ids: f"{NODES}/node-4" in ids and f"{NODES}/node-1" not in ids)
    assert f"{NODES}/node-4:runtime" in ids and f"{NODES}/node-1:runtime" not in ids
    assert f"{NODES}/node-1" not in h.engine.state.checks
    await h.discovery.stop()
    await h.engine.stop()
    with Session(db) as session:
        rows = {row.id: row for row in session.scalars(select(CheckRow))}
        kept = session.scalars(select(ResultRow).where(ResultRow.check_id == f"{NODES}/node-1")).all()
    assert rows[f"{NODES}/node-1"].retired_at is not None
    assert rows[f"{NODES}/node-4"].retired_at is None
    assert len(kept) == 1 and kept[0].status == "up"
    db.dispose()
