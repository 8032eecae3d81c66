"""Workload checks (Deployments, StatefulSets, DaemonSets) against the fake apiserver: replicas and
rollout, the cause read from the Pods when replicas are missing (ImagePullBackOff with the image
and registry, CrashLoopBackOff with the container and exit code, FailedScheduling), a stuck rollout,
the dependency on the registry check of the images' registry, discovery adding and retiring
checks, and one LIST per kind per namespace per interval."""

from __future__ import annotations

import yaml

from monitor.alerts.machine import Subject, coverage
from monitor.config import parse_config
from probes.base import Status
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_objects import daemonset_workload, deployment_object, statefulset_object, workload_pod

WL = "prod-a/workloads"
ROOT = "prod-a/control-plane/apiserver-livez"
PAAS = {"app.kubernetes.io/part-of": "paas"}
ENTRIES = [{"namespace": "paas", "kind": "Deployment", "selector": "app.kubernetes.io/part-of=paas"},
           {"namespace": "data", "kind": "StatefulSet", "name": "mysql"},
           {"namespace": "monitoring", "kind": "DaemonSet"}]


def with_registry(kubeconfig, **cluster):
    """A cluster config plus a registry check of reg.prod.local (the images' registry)."""
    raw = yaml.safe_load(yaml.safe_dump(cluster_config(kubeconfig, **cluster).model_dump(
        mode="json", include={"clusters"}, exclude_defaults=True)))
    raw["checks"] = [{"name": "prod", "component": "registries", "kind": "registry", "url": "https://reg.prod.local"}]
    return parse_config(yaml.safe_dump(raw), env={})


async def test_workload_reasons(apiserver, harness_factory):
    state = apiserver.state
    api = deployment_object("api", "paas", labels=PAAS)
    web = deployment_object("web", "paas", replicas=2, available=0, labels=PAAS)
    worker = deployment_object("worker", "paas", replicas=2, available=0, labels=PAAS)
    batch = deployment_object("batch", "paas", replicas=1, available=0, labels=PAAS)
    big = deployment_object("big", "paas", replicas=2, available=0, labels=PAAS)
    console = deployment_object("console", "paas", replicas=3, available=2, updated=1, generation=5, labels=PAAS,
                                stuck=True)
    gateway = deployment_object("gateway", "paas", replicas=3, available=2, labels=PAAS)
    idle = deployment_object("idle", "paas", replicas=0, labels=PAAS)
    mysql = statefulset_object("mysql", "data")
    agent = daemonset_workload("node-agent", "monitoring", desired=3, available=2)
    state.put(api, web, worker, batch, big, console, gateway, idle, mysql, agent,
              deployment_object("other", "paas"),  # not part of paas: not selected
              workload_pod(web, "5f7d9-a1", problem="ImagePullBackOff"),
              workload_pod(web, "5f7d9-b2", problem="ErrImagePull"),
              workload_pod(worker, "6b8c4-c3", problem="CrashLoopBackOff"),
              workload_pod(batch, "7d9e2-d4", problem="OOMKilled"),
              workload_pod(big, "8e1f3-e5", problem="Unschedulable"),
              workload_pod(console, "9f2a4-f6", problem="ImagePullBackOff"),
              workload_pod(console, "9f2a4-g7"), workload_pod(console, "9f2a4-h8"),
              workload_pod(gateway, "1a3b5-i9", problem="CrashLoopBackOff"),
              workload_pod(gateway, "1a3b5-j0"), workload_pod(gateway, "1a3b5-k1"))

    h = await harness_factory(with_registry(apiserver.write_kubeconfig(), workloads=ENTRIES))
    ids = await h.wait_checks(lambda ids: f"{WL}/monitoring.daemonset.node-agent" in ids)
    mine = sorted(i for i in ids if i.startswith(WL))
    assert mine == [f"{WL}/data.statefulset.mysql", f"{WL}/monitoring.daemonset.node-agent",
                    *(f"{WL}/paas.deployment.{n}" for n in
                      ("api", "batch", "big", "console", "gateway", "idle", "web", "worker"))]
    # images from reg.prod.local: an outage of that registry covers these checks' alerts
    assert h.engine.checks[f"{WL}/paas.deployment.web"].depends_on == [ROOT, "registries/prod"]
    assert h.engine.checks[f"{WL}/data.statefulset.mysql"].depends_on == [ROOT]  # docker.io: no registry check
    results = await h.run(mine)
    r = {cid.rsplit("/", 1)[1]: res for cid, res in results.items()}

    assert (r["paas.deployment.api"].status, r["paas.deployment.api"].reason) == (Status.UP, "3/3 available")
    assert r["paas.deployment.web"].status == Status.DOWN
    assert r["paas.deployment.web"].reason == ("0/2 available: ImagePullBackOff: image reg.prod.local/paas/web:1.4.2 "
                                               "(registry reg.prod.local)")
    assert r["paas.deployment.web"].details["registry"] == "reg.prod.local"
    assert r["paas.deployment.worker"].reason == ("0/2 available: CrashLoopBackOff: container worker "
                                                  "(last exit code 1, Error)")
    assert r["paas.deployment.batch"].reason == ("0/1 available: CrashLoopBackOff: container batch "
                                                 "(last exit code 137, OOMKilled)")
    assert r["paas.deployment.big"].status == Status.DOWN
    assert r["paas.deployment.big"].reason == (
        "0/2 available: FailedScheduling: 0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.")
    assert r["paas.deployment.console"].status == Status.DEGRADED
    assert r["paas.deployment.console"].reason == (
        'rollout stuck: ProgressDeadlineExceeded: ReplicaSet "console-7c9d8f6b5d" has timed out progressing. '
        "(2/3 available; ImagePullBackOff: image reg.prod.local/paas/console:1.4.2 (registry reg.prod.local))")
    assert r["paas.deployment.gateway"].status == Status.DEGRADED
    assert r["paas.deployment.gateway"].reason == ("2/3 available: CrashLoopBackOff: container gateway "
                                                   "(last exit code 1, Error)")
    assert (r["paas.deployment.idle"].status, r["paas.deployment.idle"].reason) == (Status.UP, "scaled to 0")
    assert (r["data.statefulset.mysql"].status, r["data.statefulset.mysql"].reason) == (Status.UP, "3/3 available")
    assert r["monitoring.daemonset.node-agent"].status == Status.DEGRADED
    assert r["monitoring.daemonset.node-agent"].reason == "2/3 available"

    # With reg.prod.local down, the alert machine covers both workloads that cannot pull from it:
    # one alert (the registry's), not one per workload.
    down = {"registries/prod": Status.DOWN, ROOT: Status.UP,
            **{cid: res.status for cid, res in results.items()}}
    subjects = {f"check:{cid}": Subject(f"check:{cid}", "check", cid, status, 0.0, "", parents=tuple(
        f"check:{p}" for p in (h.engine.checks[cid].depends_on if cid in h.engine.checks else ())))
        for cid, status in down.items()}
    by_registry = {key.removeprefix("check:") for key, root in coverage(subjects).items()
                   if root == "check:registries/prod"}
    assert {cid for cid, res in results.items() if res.status == Status.DOWN} == {
        f"{WL}/paas.deployment.{n}" for n in ("web", "worker", "batch", "big")}
    assert {f"{WL}/paas.deployment.{n}" for n in ("web", "worker", "batch", "big")} <= by_registry
    assert f"{WL}/data.statefulset.mysql" not in by_registry


async def test_rollouts(apiserver, harness_factory):
    state = apiserver.state
    state.put(statefulset_object("mysql", "data", updated=1, rolling=True),
              deployment_object("api", "paas", labels=PAAS, generation=7, observed=6))
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), workloads=ENTRIES))
    await h.wait_checks(lambda ids: {f"{WL}/data.statefulset.mysql", f"{WL}/paas.deployment.api"} <= ids)
    results = await h.run([f"{WL}/data.statefulset.mysql", f"{WL}/paas.deployment.api"])
    mysql, api = results[f"{WL}/data.statefulset.mysql"], results[f"{WL}/paas.deployment.api"]
    assert mysql.status == Status.UP and mysql.reason == "3/3 available; rollout in progress (1/3 updated)"
    assert api.status == Status.UP
    assert api.reason == "3/3 available; rollout in progress (generation 7 not yet observed)"
    assert api.details["observed_generation_current"] is False


async def test_discovery_and_one_list_per_kind(apiserver, harness_factory):
    state = apiserver.state
    for i in range(30):
        state.put(deployment_object(f"svc-{i:02}", "paas", labels=PAAS))
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), interval="4s", workloads=ENTRIES[:1]))
    await h.wait_checks(lambda ids: f"{WL}/paas.deployment.svc-29" in ids)
    lists = "/apis/apps/v1/namespaces/paas/deployments"
    before = apiserver.hits(lists)
    results = await h.run([cid for cid in h.engine.checks if cid.startswith(WL)])
    assert len(results) == 30 and {r.status for r in results.values()} == {Status.UP}
    await h.run([cid for cid in h.engine.checks if cid.startswith(WL)])
    assert apiserver.hits(lists) - before == 0  # discovery's LIST serves all 60 runs
    assert apiserver.hits("/api/v1/namespaces/paas/pods") == 0  # Pods are read only when replicas are missing

    state.delete(state.objects[("apps/v1", "deployments")][0])
    state.put(deployment_object("svc-new", "paas", labels=PAAS))
    await h.wait_checks(lambda ids: f"{WL}/paas.deployment.svc-new" in ids
                        and f"{WL}/paas.deployment.svc-00" not in ids)
