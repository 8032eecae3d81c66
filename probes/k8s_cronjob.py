"""One CronJob: did its last run succeed, recently enough, and is none running too long. Reads the
CronJob and the Jobs it owns from shared LISTs (one per namespace per interval), and the Pods of
a failed Job for the container's exit code and reason. The schedule is read with cronsim."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import Field

from probes.base import CheckBase, Duration, ProbeContext, Result, format_duration
from probes.kube import ApiError, ClusterClient, KubeTarget, client_for, parse_time
from probes.kube_objects import conditions, find, human_age, list_objects, list_path, now

API_REQUESTS = [
    ("list", "/apis/batch/v1/namespaces/*/cronjobs"), ("list", "/apis/batch/v1/cronjobs"),
    ("list", "/apis/batch/v1/namespaces/*/jobs"), ("list", "/apis/batch/v1/jobs"),
    ("list", "/api/v1/namespaces/*/pods"),
]
JOB_NAME_LABEL = "job-name"  # set on a Job's Pods by every release (1.27+ also batch.kubernetes.io/job-name)
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_EVERY = re.compile(r"^@every\s+((?:\d+(?:\.\d+)?(?:h|m|s|ms))+)$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class Check(CheckBase):
    kind: Literal["k8s_cronjob"] = "k8s_cronjob"
    cluster: KubeTarget
    namespace: str
    cronjob: str
    scope: str
    """The namespace the shared LIST reads (`*`: all); with `selector`, the LIST discovery made."""
    selector: str | None = None
    max_age: Annotated[Duration, Field(gt=0)] | None = None
    """The last success may be at most this old; unset: down once two scheduled runs after it passed."""
    max_runtime: Annotated[Duration, Field(gt=0)] | None = None
    """A Job running longer is down; unset: one schedule period."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A CronJob's `spec.schedule` in its `spec.timeZone` (UTC when unset, as most controllers run)."""

    expr: str
    tz: ZoneInfo
    every: float | None = None

    @classmethod
    def parse(cls, schedule: str, time_zone: str | None) -> Schedule:
        text = " ".join(schedule.split())
        if text.startswith(("TZ=", "CRON_TZ=")):  # the form before spec.timeZone existed
            prefix, _, text = text.partition(" ")
            time_zone = time_zone or prefix.split("=", 1)[1]
        try:
            tz = ZoneInfo(time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {time_zone!r}") from None
        if (every := _EVERY.match(text)) is not None:
            seconds = sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION_PART.findall(every.group(1)))
            if seconds <= 0:
                raise ValueError(f"schedule {schedule!r}: zero interval")
            return cls(text, tz, seconds)
        text = MACROS.get(text, text)
        try:
            CronSim(text, datetime.now(tz))
        except CronSimError as exc:
            raise ValueError(f"schedule {schedule!r}: {exc}") from None
        return cls(text, tz)

    def after(self, at: datetime, count: int) -> list[datetime]:
        """The next `count` scheduled times after `at`, in the schedule's zone."""
        at = at.astimezone(self.tz)
        if self.every is not None:
            return [at + timedelta(seconds=self.every * (i + 1)) for i in range(count)]
        it = CronSim(self.expr, at)
        return [next(it) for _ in range(count)]

    def period_at(self, at: datetime) -> float:
        """The gap between the two scheduled times after `at`, in seconds."""
        first, second = self.after(at, 2)
        return (second - first).total_seconds()

    def show(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        cronjobs = await list_objects(client, list_path("batch/v1", "cronjobs", cfg.scope), selector=cfg.selector,
                                      interval=cfg.interval, request_timeout=cfg.timeout)
        cronjob = find(cronjobs, cfg.namespace, cfg.cronjob)
        if cronjob is None:
            return Result.down(f"cronjob {cfg.namespace}/{cfg.cronjob} not found (deleted?)")
        jobs = await list_objects(client, list_path("batch/v1", "jobs", cfg.scope), selector=None,
                                  interval=cfg.interval, request_timeout=cfg.timeout)
        return await _judge(cfg, client, cronjob, _owned(cronjob, jobs))
    except ApiError as exc:
        return exc.dependent_result()


def _owned(cronjob: dict[str, Any], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CronJob's Jobs (ownerReferences), oldest first."""
    meta = cronjob["metadata"]
    mine = [
        job for job in jobs
        if (job.get("metadata") or {}).get("namespace") == meta.get("namespace")
        and any(ref.get("kind") == "CronJob" and (ref.get("uid") == meta.get("uid") if meta.get("uid")
                                                  else ref.get("name") == meta.get("name"))
                for ref in (job.get("metadata") or {}).get("ownerReferences") or [])
    ]
    return sorted(mine, key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]))


def _finished(job: dict[str, Any]) -> str | None:
    """`Complete` or `Failed` when the Job has that condition True, else None (still running)."""
    conds = conditions(job)
    for kind in ("Failed", "Complete"):
        if (conds.get(kind) or {}).get("status") == "True":
            return kind
    return None


async def _judge(cfg: Check, client: ClusterClient, cronjob: dict[str, Any], jobs: list[dict[str, Any]]) -> Result:
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    current = now()
    at_now = datetime.fromtimestamp(current, UTC)
    last_ok = parse_time(status.get("lastSuccessfulTime"))
    details: dict[str, Any] = {
        "schedule": spec.get("schedule"), "time_zone": spec.get("timeZone"),
        "suspended": bool(spec.get("suspend")), "last_schedule_time": status.get("lastScheduleTime"),
        "last_successful_time": status.get("lastSuccessfulTime"), "active": len(status.get("active") or []),
        "jobs": {j["metadata"]["name"]: _finished(j) or "Running" for j in jobs[-5:]},
    }
    try:
        schedule: Schedule | None = Schedule.parse(spec.get("schedule") or "", spec.get("timeZone"))
    except ValueError as exc:
        schedule, details["schedule_error"] = None, str(exc)
    latest = jobs[-1] if jobs else None
    if latest is not None and _finished(latest) == "Failed":
        return Result.down(await _failure(cfg, client, latest), **details)
    running = [j for j in jobs if _finished(j) is None]
    for job in running:
        started = parse_time((job.get("status") or {}).get("startTime")) or parse_time(
            job["metadata"].get("creationTimestamp"))
        if started is None:
            continue
        limit = cfg.max_runtime or (schedule.period_at(started) if schedule else None)
        took = current - started.timestamp()
        if limit is not None and took > limit:
            setting = format_duration(limit) if cfg.max_runtime else f"one schedule period, {human_age(limit)}"
            return Result.down(f"job {job['metadata']['name']} running for {human_age(took)} "
                               f"(max_runtime {setting})", **details)
    since = f"last success {human_age(current - last_ok.timestamp())} ago" if last_ok else "no successful run yet"
    if spec.get("suspend"):
        return Result.degraded(f"suspended ({since})", **details)
    reference = last_ok or parse_time(cronjob["metadata"].get("creationTimestamp"))
    if reference is not None:
        stale = _stale(cfg, schedule, reference, at_now, bool(running), last_ok is not None)
        if stale:
            return Result.down(stale, **details)
    if schedule is None and cfg.max_age is None:
        return Result.degraded(f"{details['schedule_error']}: set max_age ({since})", **details)
    if running:
        return Result.up(f"job {running[-1]['metadata']['name']} running ({since})", **details)
    return Result.up(since, **details)


def _stale(cfg: Check, schedule: Schedule | None, reference: datetime, at_now: datetime, running: bool,
           succeeded: bool) -> str | None:
    """Why the last success (or the creation, before any) is too old, else None."""
    what = "last success" if succeeded else "no successful run since creation"
    age = (at_now - reference).total_seconds()
    when = schedule.show(reference) if schedule else reference.strftime("%Y-%m-%d %H:%M UTC")
    if cfg.max_age is not None:
        if age > cfg.max_age:
            return f"{what} {when} ({human_age(age)} ago; max_age {format_duration(cfg.max_age)})"
        return None
    if schedule is None or running:
        return None  # a run in progress is judged by max_runtime, then by its outcome
    # Two schedule periods, counted on the schedule itself: irregular ones (weekdays only) too.
    deadline = schedule.after(reference, 2)[1]
    if at_now > deadline:
        return f"{what} {when} ({human_age(age)} ago); two scheduled runs since, the last due {schedule.show(deadline)}"
    return None


async def _failure(cfg: Check, client: ClusterClient, job: dict[str, Any]) -> str:
    """`job X failed: BackoffLimitExceeded (container backup: OOMKilled, exit 137)`."""
    name = job["metadata"]["name"]
    failed = conditions(job).get("Failed") or {}
    text = f"job {name} failed: {failed.get('reason') or 'Failed'}"
    try:
        pods = await list_objects(client, list_path("v1", "pods", job["metadata"].get("namespace")),
                                  selector=f"{JOB_NAME_LABEL}={name}", interval=cfg.interval,
                                  request_timeout=cfg.timeout)
    except ApiError as exc:
        return f"{text} (pods not readable: {exc.reason})"
    container = _failed_container(pods)
    if container:
        return f"{text} ({container})"
    return f"{text}: {failed['message']}" if failed.get("message") else text


def _failed_container(pods: list[dict[str, Any]]) -> str | None:
    """`container backup: OOMKilled, exit 137` from the newest Pod with a failed container."""
    newest = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
    for pod in newest:
        status = pod.get("status") or {}
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            for state in (cs.get("state") or {}, cs.get("lastState") or {}):
                terminated = state.get("terminated")
                if terminated and terminated.get("exitCode", 0) != 0:
                    return (f"container {cs.get('name')}: {terminated.get('reason') or 'Error'}, "
                            f"exit {terminated.get('exitCode')}")
        if status.get("phase") == "Failed" and status.get("reason"):
            return f"pod {pod['metadata']['name']}: {status['reason']}"
    return None

