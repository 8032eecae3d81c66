"""One Deployment, StatefulSet or DaemonSet: available replicas against desired and the rollout,
from a shared LIST of its kind per namespace; when replicas are missing, the cause seen on its Pods
(image pull with the image and its registry, crash loop with the container and exit code,
scheduling failure with the scheduler's message)."""

from __future__ import annotations

from typing import Any, Literal

from probes.base import CheckBase, ProbeContext, Result
from probes.kube import ApiError, ClusterClient, KubeTarget, client_for
from probes.kube_objects import conditions, find, list_objects, list_path, selector_of

API_REQUESTS = [
    ("list", "/apis/apps/v1/namespaces/*/deployments"), ("list", "/apis/apps/v1/deployments"),
    ("list", "/apis/apps/v1/namespaces/*/statefulsets"), ("list", "/apis/apps/v1/statefulsets"),
    ("list", "/apis/apps/v1/namespaces/*/daemonsets"), ("list", "/apis/apps/v1/daemonsets"),
    ("list", "/api/v1/namespaces/*/pods"),
]
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]
RESOURCES: dict[str, str] = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
IMAGE_PULL = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
DOCKER_HUB = "docker.io"


class Check(CheckBase):
    kind: Literal["k8s_workload"] = "k8s_workload"
    cluster: KubeTarget
    namespace: str
    workload_kind: WorkloadKind
    workload: str
    scope: str
    """The namespace the shared LIST reads (`*`: all); with `selector`, the LIST discovery made."""
    selector: str | None = None


def image_registry(image: str) -> str:
    """The registry host of an image reference (`reg.example.com:5000/team/app:1` →
    `reg.example.com:5000`); `docker.io` for a name without one (`nginx`, `library/nginx`)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return DOCKER_HUB


def images(obj: dict[str, Any]) -> list[str]:
    """The images a workload's Pod template runs (init containers too)."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c["image"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
            if c.get("image")]


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        objects = await list_objects(client, list_path("apps/v1", RESOURCES[cfg.workload_kind], cfg.scope),
                                     selector=cfg.selector, interval=cfg.interval, request_timeout=cfg.timeout)
        obj = find(objects, cfg.namespace, cfg.workload)
        if obj is None:
            return Result.down(f"{cfg.workload_kind.lower()} {cfg.namespace}/{cfg.workload} not found (deleted?)")
        return await _judge(cfg, client, obj)
    except ApiError as exc:
        return exc.dependent_result()


def _counts(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """desired / available / updated replicas and whether the rollout is complete."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    current = int(status.get("observedGeneration") or 0) >= generation
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        available = int(status.get("numberAvailable") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
        done = current and (on_delete or updated >= desired)
    else:
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        available = int(status.get("availableReplicas", status.get("readyReplicas")) or 0)
        updated = int(status.get("updatedReplicas") or 0)
        if kind == "Deployment":
            # as `kubectl rollout status`: all updated, no old replicas left, the updated ones available
            done = current and updated >= desired and int(status.get("replicas") or 0) <= updated \
                and available >= updated
        else:
            strategy = spec.get("updateStrategy") or {}
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            same_revision = status.get("updateRevision") in (None, status.get("currentRevision"))
            done = current and (strategy.get("type") == "OnDelete" or same_revision
                                or updated >= desired - partition)
    return {"desired": desired, "available": available, "updated": updated, "rollout_complete": done,
            "generation": generation, "observed_generation_current": current}


async def _judge(cfg: Check, client: ClusterClient, obj: dict[str, Any]) -> Result:
    counts = _counts(cfg.workload_kind, obj)
    desired, available = counts["desired"], counts["available"]
    details: dict[str, Any] = {**counts, "images": images(obj)}
    if desired == 0:
        return Result.up("scaled to 0", **details)
    share = f"{available}/{desired} available"
    if available >= desired and counts["rollout_complete"]:
        return Result.up(share, **details)
    progressing = conditions(obj).get("Progressing") or {}
    stuck = progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded"
    cause = await _pod_cause(cfg, client, obj, details) if available < desired or stuck else None
    if available == 0:
        return Result.down(f"{share}: {cause}" if cause else share, **details)
    if stuck:
        text = f"rollout stuck: {progressing.get('reason')}: {progressing.get('message') or ''}".rstrip(": ")
        return Result.degraded(f"{text} ({share}{'; ' + cause if cause else ''})", **details)
    if available < desired:
        return Result.degraded(f"{share}: {cause}" if cause else share, **details)
    progress = (f"{counts['updated']}/{desired} updated" if counts["observed_generation_current"]
                else f"generation {counts['generation']} not yet observed")
    return Result.up(f"{share}; rollout in progress ({progress})", **details)


async def _pod_cause(cfg: Check, client: ClusterClient, obj: dict[str, Any], details: dict[str, Any]) -> str | None:
    """The most telling reason a Pod of the workload is not running, None if none is seen."""
    selector = selector_of((obj.get("spec") or {}).get("selector"))
    if selector is None:
        return None
    try:
        pods = await list_objects(client, list_path("v1", "pods", obj["metadata"].get("namespace")),
                                  selector=selector, interval=cfg.interval, request_timeout=cfg.timeout)
    except ApiError as exc:
        details["pods_error"] = exc.reason
        return None
    found = [c for pod in pods for c in _causes(pod)]
    if not found:
        return None
    _, text, extra = min(found, key=lambda c: c[0])
    details.update(extra)
    return text


def _causes(pod: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """(rank, reason, details) for each problem on one Pod; lower rank = more telling."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    name = pod["metadata"]["name"]
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    specs = {c.get("name"): c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        container = cs.get("name")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in IMAGE_PULL:
            image = (specs.get(container) or {}).get("image") or cs.get("image") or "?"
            registry = image_registry(image)
            found.append((0, f"{reason}: image {image} (registry {registry})",
                          {"pod": name, "container": container, "image": image, "registry": registry}))
        elif reason == "CrashLoopBackOff":
            last = (cs.get("lastState") or {}).get("terminated") or {}
            exit_text = f" (last exit code {last['exitCode']}, {last.get('reason') or 'Error'})" \
                if "exitCode" in last else ""
            found.append((1, f"CrashLoopBackOff: container {container}{exit_text}",
                          {"pod": name, "container": container, "restarts": cs.get("restartCount")}))
        elif reason and reason != "ContainerCreating" and reason != "PodInitializing":
            message = (waiting.get("message") or "")[:200]
            found.append((3, f"{reason}: container {container}" + (f": {message}" if message else ""),
                          {"pod": name, "container": container}))
    scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        found.append((2, f"FailedScheduling: {(scheduled.get('message') or 'unschedulable')[:300]}", {"pod": name}))
    return found
