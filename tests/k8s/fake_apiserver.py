"""A test double of kube-apiserver over HTTPS on 127.0.0.1, built from the real wire formats:
`/livez` and `/readyz` (plain `ok`, verbose lists, 500 failure bodies, per-check paths), Node,
Lease, DaemonSet, Pod and Service objects and lists, any other kind's lists (CronJobs, Jobs,
workloads, custom resources: tests/k8s/fake_objects.py) with their discovery documents, the node
proxy, Status objects for 401, 403 and 404. It authenticates bearer tokens and client certificates
as a real apiserver does.
Its state is plain data the tests change between runs; it knows nothing of platform-monitor."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
import yaml

# What `/readyz?verbose` lists on a kubeadm v1.30 control plane (trimmed of a few poststarthooks).
READYZ_CHECKS = [
    "ping", "log", "etcd", "etcd-readiness", "informer-sync", "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers", "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced", "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes", "poststarthook/apiservice-registration-controller",
    "shutdown",
]
LIVEZ_CHECKS = [c for c in READYZ_CHECKS if c not in ("informer-sync", "shutdown", "etcd-readiness")]


def micro_time(at: datetime) -> str:
    """metav1.MicroTime on the wire: RFC 3339 with microseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


def condition(type_: str, status: str, reason: str, message: str, heartbeat: datetime) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastHeartbeatTime": rfc3339(heartbeat),
            "lastTransitionTime": rfc3339(heartbeat - timedelta(hours=2)), "reason": reason, "message": message}


def node_object(name: str, ip: str, *, ready: str = "True", reason: str = "KubeletReady",
                message: str = "kubelet is posting ready status", pressure: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Node as kubelet v1.30 with containerd reports it (heartbeat 4 minutes old, as on a quiet node)."""
    beat = now() - timedelta(minutes=4)
    unknown = ready == "Unknown"

    def c(type_: str, ok_reason: str, ok_message: str) -> dict[str, Any]:
        if unknown:
            return condition(type_, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", beat)
        return condition(type_, "True" if type_ in pressure else "False", ok_reason, ok_message, beat)

    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "4711",
                     "creationTimestamp": "2024-03-01T08:00:00Z",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16331724Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16229324Ki", "pods": "110"},
            "conditions": [
                condition("NetworkUnavailable", "False", "CalicoIsUp", "Calico is running on this node", beat),
                c("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                c("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                c("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", ready, "NodeStatusUnknown" if unknown else reason,
                          "Kubelet stopped posting node status." if unknown else message, beat),
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "0f1e", "systemUUID": "0f1e", "bootID": "b007", "kernelVersion": "6.1.0-18-amd64",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.13",
                         "kubeletVersion": "v1.30.2", "kubeProxyVersion": "v1.30.2", "operatingSystem": "linux",
                         "architecture": "amd64"},
        },
    }


def lease_object(name: str, namespace: str, holder: str, *, duration: int, renewed_ago: float,
                 transitions: int | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    renew = now() - timedelta(seconds=renewed_ago)
    spec: dict[str, Any] = {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": micro_time(renew)}
    if transitions is not None:
        spec["acquireTime"] = micro_time(renew - timedelta(hours=1))
        spec["leaseTransitions"] = transitions
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": "815"}
    if labels:
        metadata["labels"] = labels
    return {"metadata": metadata, "spec": spec}


def apiserver_identity_lease(hostname: str, *, renewed_ago: float) -> dict[str, Any]:
    """A kube-apiserver (1.26+) identity Lease: named from a hash of its hostname, held by
    `<name>_<uuid>`, leaseDurationSeconds 3600 (the GC horizon), renewTime refreshed every 10 s."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()[:26]
    name = f"apiserver-{digest}"
    holder = f"{name}_{uuid.uuid5(uuid.NAMESPACE_DNS, hostname)}"
    return lease_object(name, "kube-system", holder, duration=3600, renewed_ago=renewed_ago,
                        labels={"apiserver.kubernetes.io/identity": "kube-apiserver",
                                "kubernetes.io/hostname": hostname})


def daemonset_object(name: str, desired: int, ready: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "kube-system", "generation": 1},
            "status": {"currentNumberScheduled": desired, "numberMisscheduled": 0, "desiredNumberScheduled": desired,
                       "numberReady": ready, "observedGeneration": 1, "updatedNumberScheduled": desired,
                       "numberAvailable": ready, **({"numberUnavailable": desired - ready} if ready < desired else {})}}


def dns_pod(name: str, node: str, ready: bool = True) -> dict[str, Any]:
    flag = "True" if ready else "False"
    return {"metadata": {"name": name, "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d"}},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "podIP": "10.244.0.3",
                       "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": flag},
                                      {"type": "ContainersReady", "status": flag},
                                      {"type": "PodScheduled", "status": "True"}]}}


# What the generic object store serves: group/version → (resource, kind, namespaced), as discovery lists them.
SERVED: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [("pods", "Pod", True), ("nodes", "Node", False), ("services", "Service", True)],
    "batch/v1": [("cronjobs", "CronJob", True), ("jobs", "Job", True)],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True),
                ("daemonsets", "DaemonSet", True), ("replicasets", "ReplicaSet", True)],
    "postgresql.cnpg.io/v1": [("clusters", "Cluster", True), ("backups", "Backup", True)],
    "cert-manager.io/v1": [("certificates", "Certificate", True), ("clusterissuers", "ClusterIssuer", False)],
}
_RESOURCE_OF = {(gv, kind): resource for gv, kinds in SERVED.items() for resource, kind, _ in kinds}
_OBJECTS_PATH = re.compile(r"^/(?:api/(v1)|apis/([^/]+/[^/]+))(?:/namespaces/([^/]+))?/([^/]+)$")


@dataclass
class ClusterState:
    """Everything the fake serves; tests change it between probe runs."""

    readyz_failed: dict[str, str] = field(default_factory=dict)  # name → error the per-check path shows
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_leases: dict[str, dict[str, Any]] = field(default_factory=dict)
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)  # kube-system (leaders and apiserver identities)
    daemonsets: list[dict[str, Any]] = field(default_factory=list)
    dns_pods: list[dict[str, Any]] = field(default_factory=list)
    dns_service_ip: str = "10.96.0.10"
    kubelet_healthz: dict[str, tuple[int, str]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)  # path prefixes the monitor's user may not read
    hits: dict[str, int] = field(default_factory=dict)
    objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """(group/version, resource) → objects: CronJobs, Jobs, Pods, workloads, custom resources."""
    unserved: set[str] = field(default_factory=set)  # group/versions answering 404 (CRD not installed)

    def put(self, *objs: dict[str, Any]) -> None:
        """Create or replace objects (by namespace and name) in the generic store."""
        for obj in objs:
            items = self.objects.setdefault((obj["apiVersion"], _RESOURCE_OF[(obj["apiVersion"], obj["kind"])]), [])
            key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
            items[:] = [o for o in items if (o["metadata"].get("namespace"), o["metadata"]["name"]) != key]
            items.append(obj)

    def delete(self, obj: dict[str, Any]) -> None:
        items = self.objects.get((obj["apiVersion"], _RESOURCE_OF[(obj["apiVersion"], obj["kind"])]), [])
        items[:] = [o for o in items if o["metadata"] != obj["metadata"]]

    def add_node(self, name: str, ip: str, **kw: Any) -> None:
        self.nodes[name] = node_object(name, ip, **kw)
        self.node_leases[name] = lease_object(name, "kube-node-lease", name, duration=40, renewed_ago=3)

    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.node_leases.pop(name, None)


def healthy_cluster(nodes: int = 3) -> ClusterState:
    state = ClusterState()
    for i in range(1, nodes + 1):
        state.add_node(f"node-{i}", f"10.0.0.{10 + i}")
    state.leases["kube-scheduler"] = lease_object("kube-scheduler", "kube-system", "cp-1_6f0a2c1e-5d4b", duration=15,
                                                  renewed_ago=1.5, transitions=2)
    state.leases["kube-controller-manager"] = lease_object("kube-controller-manager", "kube-system",
                                                           "cp-1_0b9d7e33-1a2c", duration=15, renewed_ago=0.8,
                                                           transitions=1)
    for i in range(1, 4):
        identity = apiserver_identity_lease(f"cp-{i}", renewed_ago=2.0 + i)
        state.leases[identity["metadata"]["name"]] = identity
    state.daemonsets = [daemonset_object("kube-proxy", nodes, nodes), daemonset_object("calico-node", nodes, nodes)]
    state.dns_pods = [dns_pod("coredns-7db6d8ff4d-4xk2p", "node-1"), dns_pod("coredns-7db6d8ff4d-9lq7m", "node-2")]
    return state


def status_object(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class FakeApiServer:
    """HTTPS on 127.0.0.1:<free port>; `token` and the client certificate `client_cn` are known users."""

    def __init__(self, tmp: Path, *, state: ClusterState | None = None,
                 token: str = "monitor-token-0123456789") -> None:
        self.state = state or healthy_cluster()
        self.token = token
        self.tmp = tmp
        self.ca = trustme.CA()
        server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(context)
        self.ca.configure_trust(context)
        context.verify_mode = ssl.CERT_OPTIONAL  # tokens or client certificates, as the apiserver allows
        self.client_cert = self.ca.issue_cert("platform-monitor", common_name="platform-monitor")  # CN = user
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The apiserver goes away: open connections drop, the port refuses new ones."""
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def hits(self, prefix: str) -> int:
        with self._lock:
            return sum(n for path, n in self.state.hits.items() if path.startswith(prefix))

    # -- kubeconfig files -----------------------------------------------------------------------
    def write_kubeconfig(self, *, context: str = "fake", client_cert: bool = False, token: str | None = None,
                         name: str = "kubeconfig") -> Path:
        """A kubeconfig as kubeadm/cloud CLIs write them: CA data inline, a token or client certificate."""
        user: dict[str, Any]
        if client_cert:
            user = {"client-certificate-data": _b64(self.client_cert.cert_chain_pems[0].bytes()),
                    "client-key-data": _b64(self.client_cert.private_key_pem.bytes())}
        else:
            user = {"token": token or self.token}
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": f"{context}-cluster", "cluster": {
                "server": self.url, "certificate-authority-data": _b64(self.ca.cert_pem.bytes())}}],
            "users": [{"name": f"{context}-user", "user": user}],
            "contexts": [{"name": context, "context": {"cluster": f"{context}-cluster", "user": f"{context}-user"}}],
        }
        path = self.tmp / name
        path.write_text(yaml.safe_dump(config))
        return path

    def write_service_account(self) -> Path:
        """What the kubelet mounts into a pod: token, ca.crt, namespace."""
        sa = self.tmp / "serviceaccount"
        sa.mkdir(exist_ok=True)
        (sa / "token").write_text(self.token)
        (sa / "ca.crt").write_bytes(self.ca.cert_pem.bytes())
        (sa / "namespace").write_text("monitoring")
        return sa

    # -- request handling ----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.state.hits[parts.path] = fake.state.hits.get(parts.path, 0) + 1
                    status, content_type, body = fake._answer(self, parts.path, parse_qs(parts.query,
                                                                                         keep_blank_values=True))
                data = body if isinstance(body, bytes) else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _user(self, request: BaseHTTPRequestHandler) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth == f"Bearer {self.token}":
            return "system:serviceaccount:monitoring:platform-monitor"
        cert = request.connection.getpeercert() if hasattr(request.connection, "getpeercert") else None
        if cert:
            return dict(x[0] for x in cert["subject"]).get("commonName")
        return None

    def _answer(self, request: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]) -> tuple[int, str, Any]:
        json_type = "application/json"
        user = self._user(request)
        if user is None:
            return 401, json_type, status_object(401, "Unauthorized", "Unauthorized")
        for prefix in self.state.forbidden:
            if path.startswith(prefix):
                return 403, json_type, status_object(
                    403, "Forbidden", f'forbidden: User "{user}" cannot get path "{path}"', {})
        if path in ("/version", "/version/"):
            return 200, json_type, {"major": "1", "minor": "30", "gitVersion": "v1.30.2", "platform": "linux/amd64"}
        if path in ("/livez", "/readyz") or path.startswith(("/livez/", "/readyz/")):
            return self._health(path, query)
        route = self._resource(path, query)
        if route is None:
            return 404, json_type, status_object(404, "NotFound", "the server could not find the requested resource")
        status, body = route
        return status, json_type if isinstance(body, dict) else "text/plain; charset=utf-8", body

    def _health(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, str]:
        text = "text/plain; charset=utf-8"
        endpoint, _, single = path.lstrip("/").partition("/")
        names = READYZ_CHECKS if endpoint == "readyz" else LIVEZ_CHECKS
        failed = {n: e for n, e in self.state.readyz_failed.items() if n in names}
        if single:
            if single not in names:
                return 404, text, "404 page not found\n"
            if single in failed:
                return 500, text, f"internal server error: {failed[single]}\n"
            return 200, text, "ok"
        excluded = set(query.get("exclude", []))
        lines = []
        for name in names:
            if name in excluded:
                lines.append(f"[+]{name} excluded: ok")
            elif name in failed:
                lines.append(f"[-]{name} failed: reason withheld")
            else:
                lines.append(f"[+]{name} ok")
        if any(n in failed for n in names if n not in excluded):
            return 500, text, "\n".join(lines) + f"\n{endpoint} check failed\n"
        if "verbose" not in query:
            return 200, text, "ok"
        return 200, text, "\n".join(lines) + f"\n{endpoint} check passed\n"

    def _resource(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        s = self.state
        lease_api = "/apis/coordination.k8s.io/v1/namespaces/"
        if path == "/api/v1/nodes":
            return 200, _list("NodeList", "v1", list(s.nodes.values()))
        if path.startswith("/api/v1/nodes/") and path.endswith("/proxy/healthz"):
            name = path.split("/")[4]
            if name not in s.nodes:
                return 404, status_object(404, "NotFound", f'nodes "{name}" not found', {"name": name, "kind": "nodes"})
            return s.kubelet_healthz.get(name, (200, "ok"))
        if path == lease_api + "kube-node-lease/leases":
            return 200, _list("LeaseList", "coordination.k8s.io/v1", list(s.node_leases.values()))
        if path == lease_api + "kube-system/leases":
            if not (selector := _selector((query.get("labelSelector") or [""])[0])):
                return 400, status_object(400, "BadRequest", "unable to parse requirement: invalid label selector")
            leases = [x for x in s.leases.values() if selector(x["metadata"].get("labels") or {})]
            return 200, _list("LeaseList", "coordination.k8s.io/v1", leases)
        if path.startswith(lease_api + "kube-system/leases/"):
            name = path.rsplit("/", 1)[1]
            if name not in s.leases:
                return 404, status_object(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found',
                                          {"name": name, "group": "coordination.k8s.io", "kind": "leases"})
            return 200, {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1", **s.leases[name]}
        if path == "/apis/apps/v1/namespaces/kube-system/daemonsets":
            return 200, _list("DaemonSetList", "apps/v1", s.daemonsets)
        if path == "/api/v1/namespaces/kube-system/pods":
            if not (selector := _selector((query.get("labelSelector") or [""])[0])):
                return 400, status_object(400, "BadRequest", "unable to parse requirement: invalid label selector")
            pods = [p for p in s.dns_pods if selector(p["metadata"]["labels"])]
            return 200, _list("PodList", "v1", pods)
        if path == "/api/v1/namespaces/kube-system/services/kube-dns":
            return 200, {"kind": "Service", "apiVersion": "v1",
                         "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                         "spec": {"clusterIP": s.dns_service_ip, "type": "ClusterIP",
                                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}
        return self._objects(path, query)

    def _objects(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        """Discovery documents and LISTs of the generic store, in one namespace or all."""
        s = self.state
        group_version = path.removeprefix("/api/") if path == "/api/v1" else (
            path.removeprefix("/apis/") if path.count("/") == 3 and path.startswith("/apis/") else None)
        if group_version is not None:
            if group_version not in SERVED or group_version in s.unserved:
                return None
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                         "resources": [r for name, kind, namespaced in SERVED[group_version] for r in (
                             {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                              "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                                        "watch"]},
                             {"name": f"{name}/status", "singularName": "", "namespaced": namespaced, "kind": kind,
                              "verbs": ["get", "patch", "update"]})]}
        match = _OBJECTS_PATH.match(path)
        if match is None:
            return None
        group_version = match.group(1) or match.group(2)
        namespace, resource = match.group(3), match.group(4)
        kinds = {name: kind for name, kind, _ in SERVED.get(group_version, [])}
        if resource not in kinds or group_version in s.unserved:
            return None
        if not (selector := _selector((query.get("labelSelector") or [""])[0])):
            return 400, status_object(400, "BadRequest", "unable to parse requirement: invalid label selector")
        items = [o for o in s.objects.get((group_version, resource), [])
                 if (namespace is None or o["metadata"].get("namespace") == namespace)
                 and selector(o["metadata"].get("labels") or {})]
        return 200, _list(f"{kinds[resource]}List", group_version, items)


_REQUIREMENT = re.compile(r"^(!?)([A-Za-z0-9./_-]+)(?:\s*(==|=|!=)\s*([A-Za-z0-9._-]*))?$")


def _selector(text: str) -> Callable[[dict[str, str]], bool] | None:
    """A labelSelector's equality-based form (`a=b,c!=d,e,!f`; empty selects all) → a predicate
    on labels, None when it does not parse (the apiserver answers 400). Set-based `in (…)` is left out."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _REQUIREMENT.match(part)
        if match is None:
            return None
        negate, key, op, value = match.groups()
        if op is None:
            checks.append(lambda labels, k=key, n=bool(negate): (k in labels) != n)
        elif negate:
            return None
        elif op == "!=":
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        else:
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
    return lambda labels: all(check(labels) for check in checks)


def _list(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "12345"}, "items": items}


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
