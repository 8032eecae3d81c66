"""deploy/kubernetes/ as `kubectl apply -k` sends it (issue 14, item 10): every object valid
against the Kubernetes API schemas (the official client's models), the image one a user pushed,
the config watching its own cluster with the rights rbac.yaml grants, the pieces wired together;
two replicas on the database the Secret names (issue 11), or the simple option: one on SQLite."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.config import ConfigError, parse_config
from tests.deploy.manifests import RenderError, load_documents, render, validate
from tests.k8s.test_rbac import allowed

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
SUBJECT = {"kind": "ServiceAccount", "name": "platform-monitor", "namespace": "platform-monitor"}


POSTGRES = "postgresql+psycopg://monitor:secret@pg.example.com:5432/platform_monitor"
POD_ENV = {"PM_STORAGE_URL": POSTGRES, "HOSTNAME": "platform-monitor-7d9c-x2kq"}  # the Secret's and the pod's


def objects(directory: Path = DEPLOY) -> dict[tuple[str, str | None, str], dict]:
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in render(directory)}


def deployment(directory: Path = DEPLOY) -> dict:
    return objects(directory)[("Deployment", "platform-monitor", "platform-monitor")]


def config_text() -> str:
    return objects()[("ConfigMap", "platform-monitor", "platform-monitor-config")]["data"]["config.yaml"]


def monitor_config(env: dict[str, str] = POD_ENV):
    return parse_config(config_text(), env=env)


def single_sqlite(tmp_path: Path) -> Path:
    """A copy of deploy/kubernetes with single-sqlite.yaml listed instead of replicas.yaml, as the
    kustomization's comment tells a user to do."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    kustomization["resources"] = [{"replicas.yaml": "single-sqlite.yaml"}.get(r, r) for r in kustomization["resources"]]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return copy


def container_env(deploy: dict, pod: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet sets it: the Secret's keys (`pod` stands for them
    and for the downward API's metadata.name), then `env`, which wins."""
    [container] = deploy["spec"]["template"]["spec"]["containers"]
    env = {k: v for k, v in pod.items() if k != "HOSTNAME"}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}:
            env[var["name"]] = pod["HOSTNAME"]
    return env


def test_every_object_is_valid_for_the_kubernetes_api():
    rendered = render(DEPLOY)
    assert [o["kind"] for o in rendered][:2] == ["Namespace", "ServiceAccount"]  # created before their users
    for obj in rendered:
        validate(obj)
    for optional in DEPLOY.glob("*.yaml"):  # the optional files too (rbac-kubelet-proxy.yaml)
        if optional.name != "kustomization.yaml":
            for obj in load_documents(optional):
                validate(obj)


def test_the_validator_refuses_what_the_api_server_would():
    good = deployment()
    container = good["spec"]["template"]["spec"]["containers"][0]
    for change in (lambda c: c.update(imagePullPolicy=None, imagePulPolicy="Always"),   # unknown field
                   lambda c: c.update(image_pull_policy="Always"),                     # Python spelling
                   lambda c: c["ports"][0].update(containerPort="8080"),               # string for int
                   lambda c: c.pop("name")):                                          # required
        broken = yaml.safe_load(yaml.safe_dump(good))
        bad = broken["spec"]["template"]["spec"]["containers"][0]
        change(bad)
        bad = {k: v for k, v in bad.items() if v is not None}
        broken["spec"]["template"]["spec"]["containers"][0] = bad
        with pytest.raises(ValueError):
            validate(broken)
    assert container["image"]


def test_the_image_is_the_one_the_kustomization_names(tmp_path):
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    [rule] = kustomization["images"]
    image = deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{rule['newName']}:{rule['newTag']}"
    assert image.startswith("registry.example.com/") and image.endswith(":0.1.0")
    # what docs/deploy.md tells a user to change: newName and newTag
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    rule.update(newName="harbor.corp.example/platform/platform-monitor", newTag="0.1.0-1")
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    [container] = next(o for o in render(copy) if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "harbor.corp.example/platform/platform-monitor:0.1.0-1"


def test_the_renderer_refuses_what_it_does_not_know_and_duplicates(tmp_path):
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    (copy / "kustomization.yaml").write_text(yaml.safe_dump({**kustomization, "namePrefix": "x-"}))
    with pytest.raises(RenderError, match="namePrefix"):
        render(copy)
    kustomization["resources"].append("rbac.yaml")
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    with pytest.raises(RenderError, match="twice"):
        render(copy)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: nothing to compare with")
def test_kubectl_kustomize_renders_the_same_objects():
    done = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0 and "unknown command" in done.stderr:
        pytest.skip("this kubectl has no kustomize")
    assert done.returncode == 0, done.stderr
    theirs = [d for d in yaml.safe_load_all(done.stdout) if d]
    ours = render(DEPLOY)
    key = lambda o: (o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"])  # noqa: E731
    assert sorted(theirs, key=key) == sorted(ours, key=key)
    assert [o["kind"] for o in theirs] == [o["kind"] for o in ours]


def test_it_watches_its_own_cluster_and_listens_on_every_interface_of_its_pod():
    config = monitor_config()
    [cluster] = config.clusters
    assert cluster.in_cluster and not cluster.kubeconfig
    ids = {check.id for check in config.all_checks()}
    assert f"{cluster.name}/control-plane/apiserver-readyz" in ids and f"{cluster.name}/dns/query" in ids
    assert "host" not in config.server.model_fields_set  # the image's PM_HOST=0.0.0.0 decides
    assert config.server.public_url  # alert links lead somewhere a person can open
    spec = deployment()["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["ports"][0]["containerPort"] == config.server.port
    assert spec["serviceAccountName"] == SUBJECT["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) == {v["name"] for v in spec["volumes"]}
    assert mounts["config"] == "/etc/platform-monitor"


def test_two_replicas_share_the_secrets_database_on_different_nodes_and_never_both_go_at_once():
    found = objects()
    deploy = deployment()
    spec = deploy["spec"]["template"]["spec"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = found[("PodDisruptionBudget", "platform-monitor", "platform-monitor")]
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [term] = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    # the storage URL comes from the Secret, which is then required; the replica id is the pod's name
    [container] = spec["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "platform-monitor-env"}}]
    config = monitor_config(container_env(deploy, POD_ENV))
    assert config.storage.url == POSTGRES and config.engine.replica_id == POD_ENV["HOSTNAME"]
    with pytest.raises(ConfigError, match="PM_STORAGE_URL"):
        monitor_config({"HOSTNAME": "x"})
    # nothing on a ReadWriteOnce volume, which two pods on two nodes could not share
    assert not any(kind == "PersistentVolumeClaim" for kind, _, _ in found)
    assert not any("persistentVolumeClaim" in volume for volume in spec["volumes"])


def test_the_simple_option_is_one_replica_on_sqlite_in_a_volume(tmp_path):
    copy = single_sqlite(tmp_path)
    found = objects(copy)
    for obj in found.values():
        validate(obj)
    deploy = deployment(copy)
    spec = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(kind == "PodDisruptionBudget" for kind, _, _ in found)  # minAvailable 1 of 1 blocks drains
    [container] = spec["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "platform-monitor-env", "optional": True}}]
    config = monitor_config(container_env(deploy, {"HOSTNAME": "platform-monitor-0"}))  # no Secret at all
    assert config.storage.url == "sqlite:////var/lib/platform-monitor/platform-monitor.db"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["data"] == "/var/lib/platform-monitor"
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", "platform-monitor", claim) in found
    # the two Deployments agree on everything but the storage
    replicated = deployment()
    for path in (("spec", "selector"), ("spec", "template", "metadata"),
                 ("spec", "template", "spec", "securityContext"), ("spec", "template", "spec", "serviceAccountName")):
        ours, theirs = deploy, replicated
        for key in path:
            ours, theirs = ours[key], theirs[key]
        assert ours == theirs, path
    [other] = replicated["spec"]["template"]["spec"]["containers"]
    for key in ("image", "args", "ports", "readinessProbe", "livenessProbe", "resources", "securityContext"):
        assert container[key] == other[key], key


def test_the_rbac_it_applies_grants_every_request_its_config_makes():
    config = monitor_config()
    [cluster] = config.clusters
    kinds = {check.kind for check in config.all_checks() if check.kind.startswith("k8s_")}
    # found at run time by discovery: the nodes, and each readiness sub-check of the apiserver
    kinds |= {"k8s_node"} if cluster.probes.nodes else set()
    kinds |= {"k8s_readyz"} if cluster.probes.readyz_checks else set()
    assert not cluster.probes.kubelet  # nodes/proxy stays out of what is applied by default
    rendered = render(DEPLOY)
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in rendered if o["kind"] in ("Role", "ClusterRole")}
    rules = []
    for binding in (o for o in rendered if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if SUBJECT in binding["subjects"]:
            namespace = binding["metadata"].get("namespace")
            ref = binding["roleRef"]
            role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
            rules += [(namespace, rule) for rule in role["rules"]]
    assert ("ServiceAccount", "platform-monitor", "platform-monitor") in objects()
    requests = [(kind, verb, path) for kind in sorted(kinds)
                for verb, path in importlib.import_module(f"probes.{kind}").API_REQUESTS]
    assert len(requests) >= 10
    for kind, verb, path in requests:
        assert allowed(verb, path, rules), (kind, verb, path)


def test_the_agent_in_a_watched_cluster_has_the_centres_rights_there_and_a_buffer_that_outlives_it():
    agent = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in load_documents(DEPLOY / "agent.yaml")}
    centre = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
              for d in load_documents(DEPLOY / "rbac.yaml")}

    def rules(found: dict, kind: str, namespace: str | None, *names: str) -> list:
        return sorted(yaml.safe_dump(r, sort_keys=True) for n in names for r in found[(kind, namespace, n)]["rules"])

    # the cluster's own probes run at the agent: the same read-only rights the centre's manifest grants
    assert rules(agent, "ClusterRole", None, "platform-monitor-agent") == rules(
        centre, "ClusterRole", None, "platform-monitor", "platform-monitor-workloads")
    for namespace in ("kube-system", "kube-node-lease"):
        assert rules(agent, "Role", namespace, "platform-monitor-agent") == rules(
            centre, "Role", namespace, "platform-monitor")
    deploy = agent[("Deployment", "platform-monitor-agent", "platform-monitor-agent")]
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    spec = deploy["spec"]["template"]["spec"]
    [container] = spec["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    assert container["args"][0] == "agent" and set(args) == {"server", "name", "token-file", "buffer", "listen"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts[str(Path(args["token-file"]).parent)]]["secret"]["secretName"] == "platform-monitor-agent"
    claim = volumes[mounts[str(Path(args["buffer"]).parent)]]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", "platform-monitor-agent", claim) in agent
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert args["listen"].endswith(":9108") and container["ports"][0]["containerPort"] == 9108
    assert spec["serviceAccountName"] == "platform-monitor-agent"
