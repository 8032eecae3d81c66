"""/api/v1/replicas: the processes sharing the database and the shards they hold, as this
process saw them at its last lease round (memory: it answers while the database hangs)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from monitor.api.deps import ServiceDep
from monitor.instants import from_unix

router = APIRouter(prefix="/api/v1/replicas", tags=["replicas"])


class ReplicaOut(BaseModel):
    id: str
    host: str
    pid: int
    started_at: datetime
    last_renewal: datetime
    shards: int
    """Shards it holds and probes."""
    checks: int
    """Checks in those shards."""
    leader: bool
    """It runs the once-only work: rollups, compaction, retention, component history and alerts, the watchdog."""
    version: str
    self: bool
    """The process that answers this request."""
    held_shards: list[int] | None = None
    """The shards it holds (known for the answering process only)."""


class ReplicasOut(BaseModel):
    replicas: list[ReplicaOut]
    """Every live process (renewed within engine.lease_ttl), by id."""
    shards: int
    """engine.shards: the number every process uses."""
    unheld_shards: list[int]
    """Shards no live process holds now: their checks are not probed (a takeover under way, or no process has room)."""
    observed_at: datetime | None
    """When this process last read the lease table (the database's clock); None before its first round."""
    problem: str | None
    """Why this process does not act on its shards now, if it does not."""


@router.get("", response_model=ReplicasOut)
async def list_replicas(service: ServiceDep) -> ReplicasOut:
    """The processes and shards, from this process's last lease round (no database call)."""
    coordinator = service.coordinator
    stats = coordinator.stats
    now = stats.db_now
    live = [r for r in stats.replicas if now is not None and r.expires_at > now]
    if now is None:  # before the first round (the database away at start): this process alone
        started = from_unix(coordinator.started_at)
        replicas = [ReplicaOut(id=coordinator.id, host=coordinator.host, pid=coordinator.pid,
                               started_at=started, last_renewal=started,
                               shards=coordinator.shards, checks=service.engine.owned_count(), leader=True,
                               version="", self=True)]
    else:
        replicas = [ReplicaOut(id=r.id, host=r.host, pid=r.pid, started_at=from_unix(r.started_at),
                               last_renewal=from_unix(r.last_renewal), shards=r.shards, checks=r.checks,
                               leader=r.leader, version=r.version, self=False) for r in live if r.id != coordinator.id]
        mine = next((r for r in live if r.id == coordinator.id), None)
        if mine is not None:  # its own row is written at the start of a round: the figures now are newer
            replicas.append(ReplicaOut(
                id=mine.id, host=mine.host, pid=mine.pid, started_at=from_unix(mine.started_at),
                last_renewal=from_unix(mine.last_renewal), shards=len(coordinator.active or ()),
                checks=service.engine.owned_count(), leader=coordinator.leader, version=mine.version, self=True,
                held_shards=sorted(coordinator.active or ())))
        replicas.sort(key=lambda r: r.id)
    return ReplicasOut(replicas=replicas, shards=coordinator.shards, unheld_shards=list(stats.unheld),
                       observed_at=from_unix(now) if now is not None else None, problem=coordinator.problem)
