"""CronJobs, Jobs, Pods, Deployments, StatefulSets, DaemonSets and two custom resources (a
CloudNativePG Cluster, a cert-manager Certificate) as a v1.30 apiserver serves them: field names,
condition types, reasons and messages copied from the API reference and the controllers, the
failure shapes included (BackoffLimitExceeded, DeadlineExceeded, OOMKilled, ImagePullBackOff,
CrashLoopBackOff, FailedScheduling, ProgressDeadlineExceeded, Ready=False, a stale observedGeneration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.k8s.fake_apiserver import now, rfc3339


def ago(seconds: float) -> str:
    return rfc3339(now() - timedelta(seconds=seconds))


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _meta(name: str, namespace: str | None, *, labels: dict[str, str] | None = None, generation: int = 1,
          created_ago: float = 86400 * 30, kind: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": _uid(kind, namespace or "", name), "resourceVersion": "90210",
                            "generation": generation, "creationTimestamp": ago(created_ago)}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _condition(type_: str, status: str, reason: str = "", message: str = "", *, at_ago: float = 3600,
               probe: bool = False, **extra: Any) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": type_, "status": status, "lastTransitionTime": ago(at_ago)}
    if probe:
        cond["lastProbeTime"] = ago(at_ago)
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return {**cond, **extra}


# -- batch/v1 ------------------------------------------------------------------------------------
def cronjob_object(name: str, namespace: str, schedule: str, *, time_zone: str | None = None,
                   suspend: bool = False, last_success_ago: float | None = None,
                   last_schedule_ago: float | None = None, labels: dict[str, str] | None = None,
                   created_ago: float = 86400 * 30, active: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": suspend,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
        "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "backup", "image": "reg.prod.local/ops/etcd-backup:3.5.12"}]}}}},
    }
    if time_zone:
        spec["timeZone"] = time_zone
    status: dict[str, Any] = {}
    if last_schedule_ago is not None:
        status["lastScheduleTime"] = ago(last_schedule_ago)
    if last_success_ago is not None:
        status["lastSuccessfulTime"] = ago(last_success_ago)
    if active:
        status["active"] = [{"kind": "Job", "namespace": namespace, "name": job, "apiVersion": "batch/v1",
                             "uid": _uid("Job", namespace, job), "resourceVersion": "90211"} for job in active]
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": _meta(name, namespace, labels=labels, created_ago=created_ago, kind="CronJob"),
            "spec": spec, "status": status}


def job_object(cronjob: dict[str, Any], name: str, *, outcome: str, started_ago: float,
               took: float = 60.0, reason: str = "", message: str = "") -> dict[str, Any]:
    """A Job made by `cronjob`: outcome `Complete`, `Failed` (reason BackoffLimitExceeded or
    DeadlineExceeded, as the job controller writes them) or `Running`."""
    meta = cronjob["metadata"]
    namespace = meta["namespace"]
    job_meta = _meta(name, namespace, created_ago=started_ago, kind="Job",
                     labels={"batch.kubernetes.io/controller-uid": _uid("Job", namespace, name),
                             "batch.kubernetes.io/job-name": name, "controller-uid": _uid("Job", namespace, name),
                             "job-name": name})
    job_meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": meta["name"],
                                    "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]
    status: dict[str, Any] = {"startTime": ago(started_ago), "ready": 0, "terminating": 0,
                              "uncountedTerminatedPods": {}}
    done_ago = started_ago - took
    if outcome == "Complete":
        status.update(succeeded=1, completionTime=ago(done_ago), conditions=[
            _condition("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                       at_ago=done_ago, probe=True),
            _condition("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                       at_ago=done_ago, probe=True)])
    elif outcome == "Failed":
        reason = reason or "BackoffLimitExceeded"
        message = message or {"BackoffLimitExceeded": "Job has reached the specified backoff limit",
                              "DeadlineExceeded": "Job was active longer than specified deadline"}.get(reason, "")
        status.update(failed=3, conditions=[
            _condition("FailureTarget", "True", reason, message, at_ago=done_ago, probe=True),
            _condition("Failed", "True", reason, message, at_ago=done_ago, probe=True)])
    else:
        status.update(active=1, ready=1)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": {"backoffLimit": 2, "completions": 1, "parallelism": 1}, "status": status}


def job_pod(job: dict[str, Any], suffix: str, *, container: str = "backup", exit_code: int = 137,
            reason: str = "OOMKilled", created_ago: float = 600) -> dict[str, Any]:
    """A failed Pod of `job` whose container terminated (restartPolicy Never)."""
    job_meta = job["metadata"]
    name = f"{job_meta['name']}-{suffix}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {**_meta(name, job_meta["namespace"], labels=job_meta["labels"], created_ago=created_ago,
                             kind="Pod"),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_meta["name"],
                                          "uid": job_meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"restartPolicy": "Never", "nodeName": "node-2",
                 "containers": [{"name": container, "image": "reg.prod.local/ops/etcd-backup:3.5.12"}]},
        "status": {
            "phase": "Failed", "hostIP": "10.0.0.12", "podIP": "10.244.2.17", "startTime": ago(created_ago),
            "conditions": [_condition("PodScheduled", "True", at_ago=created_ago),
                           _condition("Ready", "False", "PodFailed", at_ago=created_ago - 30)],
            "containerStatuses": [{
                "name": container, "ready": False, "restartCount": 0, "started": False,
                "image": "reg.prod.local/ops/etcd-backup:3.5.12", "imageID": "reg.prod.local/ops/etcd-backup@sha256:"
                + "ab" * 32, "containerID": "containerd://" + "9f" * 32,
                "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                                         "startedAt": ago(created_ago - 5), "finishedAt": ago(created_ago - 30),
                                         "containerID": "containerd://" + "9f" * 32}},
                "lastState": {}}],
        },
    }


# -- apps/v1 -------------------------------------------------------------------------------------
def _template(labels: dict[str, str], images: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": c, "image": image, "ports": [{"containerPort": 8080}]}
                                    for c, image in images.items()]}}


def deployment_object(name: str, namespace: str, *, replicas: int = 3, available: int | None = None,
                      updated: int | None = None, total: int | None = None, generation: int = 4,
                      observed: int | None = None, labels: dict[str, str] | None = None,
                      images: dict[str, str] | None = None, stuck: bool = False) -> dict[str, Any]:
    """A Deployment; `stuck`: Progressing False / ProgressDeadlineExceeded as the controller writes it."""
    available = replicas if available is None else available
    updated = replicas if updated is None else updated
    selector = {"app.kubernetes.io/name": name}
    conds = [
        _condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.",
                   lastUpdateTime=ago(3600)) if available > 0 else
        _condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.",
                   lastUpdateTime=ago(600)),
        _condition("Progressing", "False", "ProgressDeadlineExceeded",
                   f'ReplicaSet "{name}-7c9d8f6b5d" has timed out progressing.', at_ago=60, lastUpdateTime=ago(60))
        if stuck else
        _condition("Progressing", "True", "NewReplicaSetAvailable",
                   f'ReplicaSet "{name}-7c9d8f6b5d" has successfully progressed.', lastUpdateTime=ago(3600)),
    ]
    status: dict[str, Any] = {"observedGeneration": generation if observed is None else observed,
                              "replicas": total if total is not None else max(replicas, updated),
                              "updatedReplicas": updated, "readyReplicas": available,
                              "availableReplicas": available, "conditions": conds}
    if replicas - available > 0:
        status["unavailableReplicas"] = replicas - available
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(name, namespace, labels={**selector, **(labels or {})}, generation=generation,
                              kind="Deployment"),
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                             "maxUnavailable": "25%"}},
                     "template": _template(selector, images or {name: f"reg.prod.local/paas/{name}:1.4.2"})},
            "status": status}


def statefulset_object(name: str, namespace: str, *, replicas: int = 3, available: int | None = None,
                       updated: int | None = None, generation: int = 2, labels: dict[str, str] | None = None,
                       images: dict[str, str] | None = None, rolling: bool = False) -> dict[str, Any]:
    available = replicas if available is None else available
    updated = replicas if updated is None else updated
    selector = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": _meta(name, namespace, labels={**selector, **(labels or {})}, generation=generation,
                              kind="StatefulSet"),
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": selector},
                     "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": _template(selector, images or {name: f"docker.io/library/{name}:8.0.36"})},
            "status": {"observedGeneration": generation, "replicas": replicas, "readyReplicas": available,
                       "currentReplicas": replicas - updated if rolling else replicas, "updatedReplicas": updated,
                       "availableReplicas": available, "currentRevision": f"{name}-5d8f7c6b9",
                       "updateRevision": f"{name}-6c9b8d7f5" if rolling else f"{name}-5d8f7c6b9",
                       "collisionCount": 0}}


def daemonset_workload(name: str, namespace: str, *, desired: int = 3, available: int | None = None,
                       labels: dict[str, str] | None = None, images: dict[str, str] | None = None) -> dict[str, Any]:
    available = desired if available is None else available
    selector = {"app.kubernetes.io/name": name}
    status: dict[str, Any] = {"currentNumberScheduled": desired, "numberMisscheduled": 0,
                              "desiredNumberScheduled": desired, "numberReady": available, "observedGeneration": 1,
                              "updatedNumberScheduled": desired, "numberAvailable": available}
    if available < desired:
        status["numberUnavailable"] = desired - available
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": _meta(name, namespace, labels={**selector, **(labels or {})}, kind="DaemonSet"),
            "spec": {"selector": {"matchLabels": selector},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": _template(selector, images or {name: f"reg.prod.local/platform/{name}:2.1"})},
            "status": status}


def workload_pod(workload: dict[str, Any], suffix: str, *, problem: str | None = None,
                 container: str | None = None) -> dict[str, Any]:
    """A Pod of `workload`: running and Ready, or with `problem` ImagePullBackOff, ErrImagePull,
    CrashLoopBackOff, OOMKilled (crash-looping after an OOM kill) or Unschedulable, with the
    status kubelet and the scheduler write for it."""
    meta, template = workload["metadata"], workload["spec"]["template"]
    first = template["spec"]["containers"][0]
    container = container or first["name"]
    image = first["image"]
    name = f"{meta['name']}-{suffix}"
    cs: dict[str, Any] = {"name": container, "image": image, "ready": problem is None, "restartCount": 0,
                          "started": problem is None, "lastState": {}, "imageID": ""}
    conds = [_condition("PodScheduled", "True")]
    phase = "Running"
    if problem is None:
        cs.update(state={"running": {"startedAt": ago(3600)}}, containerID="containerd://" + "1a" * 32,
                  imageID=image.split(":")[0] + "@sha256:" + "cd" * 32)
        conds += [_condition("Initialized", "True"), _condition("Ready", "True"), _condition("ContainersReady", "True")]
    elif problem in ("ImagePullBackOff", "ErrImagePull"):
        phase = "Pending"
        message = (f'Back-off pulling image "{image}"' if problem == "ImagePullBackOff" else
                   f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                   f"{image.split('/')[0]}/v2/: 503 Service Unavailable")
        cs.update(state={"waiting": {"reason": problem, "message": message}})
        conds += [_condition("Initialized", "True"),
                  _condition("Ready", "False", "ContainersNotReady", f"containers with unready status: [{container}]"),
                  _condition("ContainersReady", "False", "ContainersNotReady",
                             f"containers with unready status: [{container}]")]
    elif problem in ("CrashLoopBackOff", "OOMKilled"):
        exit_code, reason = (137, "OOMKilled") if problem == "OOMKilled" else (1, "Error")
        cs.update(restartCount=7, containerID="containerd://" + "2b" * 32,
                  state={"waiting": {"reason": "CrashLoopBackOff",
                                     "message": f"back-off 5m0s restarting failed container={container} "
                                                f"pod={name}_{meta['namespace']}({_uid('Pod', name)})"}},
                  lastState={"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": ago(320),
                                            "finishedAt": ago(318), "containerID": "containerd://" + "2b" * 32}})
        conds += [_condition("Initialized", "True"),
                  _condition("Ready", "False", "ContainersNotReady", f"containers with unready status: [{container}]"),
                  _condition("ContainersReady", "False", "ContainersNotReady",
                             f"containers with unready status: [{container}]")]
    elif problem == "Unschedulable":
        phase, cs = "Pending", None
        conds = [_condition("PodScheduled", "False", "Unschedulable",
                            "0/3 nodes are available: 1 node(s) had untolerated taint "
                            "{node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes "
                            "are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims "
                            "found for incoming pod.", probe=True)]
    status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable", "conditions": conds}
    if cs is not None:
        status.update(hostIP="10.0.0.11", podIP="10.244.1.23", startTime=ago(3600), containerStatuses=[cs])
    spec: dict[str, Any] = {"containers": template["spec"]["containers"], "restartPolicy": "Always"}
    if cs is not None:
        spec["nodeName"] = "node-1"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(name, meta["namespace"], labels=template["metadata"]["labels"], kind="Pod"),
            "spec": spec, "status": status}


# -- custom resources --------------------------------------------------------------------------
def cnpg_cluster(name: str, namespace: str, *, ready: bool = True, generation: int = 3,
                 observed: int | None = None) -> dict[str, Any]:
    """A CloudNativePG `postgresql.cnpg.io/v1` Cluster (its controller's Ready condition and phase)."""
    cond = (_condition("Ready", "True", "ClusterIsReady", "Cluster is Ready") if ready else
            _condition("Ready", "False", "ClusterIsNotReady", "Cluster Is Not Ready", at_ago=120))
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": _meta(name, namespace, generation=generation, kind="Cluster"),
            "spec": {"instances": 3, "imageName": "ghcr.io/cloudnative-pg/postgresql:16.2",
                     "storage": {"size": "50Gi"}},
            "status": {"instances": 3, "readyInstances": 3 if ready else 1, "currentPrimary": f"{name}-1",
                       "phase": "Cluster in healthy state" if ready else "Waiting for the instances to become active",
                       "latestGeneratedNode": 3, "observedGeneration": generation if observed is None else observed,
                       "conditions": [cond,
                                      _condition("ContinuousArchiving", "True", "ContinuousArchivingSuccess",
                                                 "Continuous archiving is working")]}}


def certificate(name: str, namespace: str, *, ready: bool = True, reason: str = "", message: str = "",
                generation: int = 1, observed: int | None = None) -> dict[str, Any]:
    """A cert-manager `cert-manager.io/v1` Certificate: its conditions carry observedGeneration."""
    observed = generation if observed is None else observed
    cond = (_condition("Ready", "True", "Ready", "Certificate is up to date and has not expired",
                       observedGeneration=observed) if ready else
            _condition("Ready", "False", reason or "Failed", message, at_ago=300, observedGeneration=observed))
    not_after = datetime.now(UTC) + timedelta(days=60)
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": _meta(name, namespace, generation=generation, kind="Certificate"),
            "spec": {"secretName": f"{name}-tls", "dnsNames": [f"{name}.platform.example.com"],
                     "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
            "status": {"conditions": [cond], "notAfter": rfc3339(not_after),
                       "notBefore": rfc3339(not_after - timedelta(days=90)),
                       "renewalTime": rfc3339(not_after - timedelta(days=30)), "revision": 4}}
