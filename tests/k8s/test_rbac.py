"""deploy/kubernetes/rbac.yaml grants every request the Kubernetes probes make (each probe module's
API_REQUESTS table) and nothing that writes; nodes/proxy only in the optional file; custom
resources only through a rule of their own (rbac-resources-example.yaml)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import yaml

import probes
from monitor.clusters import LEADER_LEASES
from probes import k8s_dns

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
SUBJECT = {"kind": "ServiceAccount", "name": "platform-monitor", "namespace": "platform-monitor"}
# What a `*` in a request table stands for when the rule names its objects.
NAMES = {"leases": list(LEADER_LEASES), "services": [k8s_dns.Check.model_fields["service"].default]}
# The custom resources of examples/platform.yaml, for the `{group}/{version}/{resource}` requests.
CUSTOM = [{"group": "postgresql.cnpg.io", "version": "v1", "resource": "clusters"},
          {"group": "cert-manager.io", "version": "v1", "resource": "certificates"}]


def probe_requests() -> list[tuple[str, str, str]]:
    found = []
    for info in pkgutil.iter_modules(probes.__path__):
        module = importlib.import_module(f"probes.{info.name}")
        for verb, path in getattr(module, "API_REQUESTS", []):
            found.append((info.name, verb, path))
    return found


def grants(*files: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace or None for cluster-wide, rule) for each rule bound to our service account."""
    docs = [d for f in files for d in yaml.safe_load_all((DEPLOY / f).read_text()) if d]
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    out = []
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if SUBJECT not in binding["subjects"]:
            continue
        namespace = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        out += [(namespace, rule) for rule in role["rules"]]
    return out


def attributes(path: str) -> dict[str, Any]:
    """A request path → what RBAC authorizes: non-resource URL, or group/namespace/resource/name."""
    parts = path.strip("/").split("/")
    if not path.startswith(("/api/", "/apis/")) or len(parts) <= (2 if parts[0] == "api" else 3):
        return {"url": path}  # /version, /readyz, and the discovery documents /api/v1, /apis/<group>/<version>
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    return {"group": group, "namespace": namespace, "resource": resource, "name": rest[1] if len(rest) > 1 else None}


def allowed(verb: str, path: str, rules: list[tuple[str | None, dict[str, Any]]]) -> bool:
    a = attributes(path)
    for namespace, rule in rules:
        if verb not in rule["verbs"]:
            continue
        if "url" in a:
            if any(u == a["url"] or (u.endswith("*") and a["url"].startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs", [])):
                return True
            continue
        if a["group"] not in rule.get("apiGroups", []) or a["resource"] not in rule.get("resources", []):
            continue
        if namespace is not None and namespace != a["namespace"]:
            continue
        names = rule.get("resourceNames")
        wanted = NAMES.get(a["resource"], []) if a["name"] == "*" else [a["name"]]
        if not names or (a["name"] is not None and all(n in names for n in wanted)):
            return True
    return False


def test_every_probe_request_is_granted():
    requests = probe_requests()
    assert {m for m, _, _ in requests} >= {"k8s_apiserver", "k8s_readyz", "k8s_lease", "k8s_apiservers", "k8s_node",
                                           "k8s_coredns", "k8s_dns", "k8s_daemonsets", "k8s_kubelet", "k8s_cronjob",
                                           "k8s_workload", "k8s_resource"}
    base = grants("rbac.yaml")
    with_proxy = grants("rbac.yaml", "rbac-kubelet-proxy.yaml")
    with_resources = grants("rbac.yaml", "rbac-resources-example.yaml")
    for module, verb, path in requests:
        if module == "k8s_resource":
            for custom in CUSTOM:
                concrete = path.format(**custom)
                if verb == "get":  # the discovery document
                    assert allowed(verb, concrete, base), (module, verb, concrete)
                else:
                    assert not allowed(verb, concrete, base), "custom resources need a rule of their own"
                    assert allowed(verb, concrete, with_resources), (module, verb, concrete)
        elif module == "k8s_kubelet":
            assert not allowed(verb, path, base), "nodes/proxy must stay out of the base roles"
            assert allowed(verb, path, with_proxy), (module, verb, path)
        else:
            assert allowed(verb, path, base), (module, verb, path)


def test_read_only_and_narrow():
    rules = grants("rbac.yaml", "rbac-kubelet-proxy.yaml", "rbac-resources-example.yaml")
    assert {v for _, rule in rules for v in rule["verbs"]} <= {"get", "list"}
    assert not any("secrets" in rule.get("resources", []) or "*" in rule.get("resources", []) for _, rule in rules)
    assert not allowed("list", "/apis/coordination.k8s.io/v1/namespaces/default/leases", rules)
    assert not allowed("get", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other", rules)
    assert not allowed("watch", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", rules)
    assert not allowed("get", "/api/v1/namespaces/kube-system/services/other", rules)
    for verb in ("create", "update", "patch", "delete", "deletecollection"):
        assert not allowed(verb, "/apis/batch/v1/namespaces/ops/jobs", rules)
        assert not allowed(verb, "/apis/apps/v1/namespaces/paas/deployments/api", rules)
        assert not allowed(verb, "/api/v1/namespaces/paas/pods", rules)
    assert not allowed("get", "/api/v1/namespaces/paas/pods/api-1/log", rules)
    assert not allowed("get", "/api/v1/namespaces/paas/pods/api-1/exec", rules)
    assert not allowed("list", "/apis/postgresql.cnpg.io/v1/backups", rules)
