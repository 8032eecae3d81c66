"""A leader-election Lease (`kube-system/kube-scheduler`, `kube-controller-manager`): up while held
and renewed within its duration plus a clock-skew margin; counts leader changes and calls
frequent ones flapping. Works where the components' own ports are out of reach (managed clusters)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from probes.base import CheckBase, Duration, ProbeContext, Result, format_duration
from probes.kube import ApiError, KubeTarget, age_seconds, client_for

API_REQUESTS = [("get", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/*")]


class Check(CheckBase):
    kind: Literal["k8s_lease"] = "k8s_lease"
    cluster: KubeTarget
    namespace: str = "kube-system"
    lease: str
    skew: Annotated[Duration, Field(ge=0)] = 10.0
    """Allowed difference between our clock and the leader's: renewTime is the leader's clock."""
    flapping_changes: int = Field(default=3, ge=1)
    flapping_window: Annotated[Duration, Field(gt=0)] = 900.0
    """`flapping_changes` leader changes within this window make the check degraded."""


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What a Lease's spec says about its holder; `renew_age` is seconds since renewTime by our
    clock (None when absent or unreadable), so callers add their own skew margin."""

    holder: str
    duration: float
    transitions: int
    renew_age: float | None

    @property
    def renew_age_rounded(self) -> float | None:
        return None if self.renew_age is None else round(self.renew_age, 3)


def lease_state(lease: dict) -> LeaseState:
    """A Lease object (as GET or a LeaseList item returns it) → LeaseState; missing fields read
    as empty, since the apiserver omits unset ones."""
    spec = (lease or {}).get("spec") or {}
    return LeaseState(
        holder=spec.get("holderIdentity") or "",
        duration=float(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        renew_age=age_seconds(spec.get("renewTime")),
    )


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    path = f"/apis/coordination.k8s.io/v1/namespaces/{cfg.namespace}/leases/{cfg.lease}"
    try:
        response = await client.request(path, request_timeout=cfg.timeout, accept_statuses=(200, 404))
    except ApiError as exc:
        return exc.dependent_result()
    where = f"Lease {cfg.namespace}/{cfg.lease}"
    if response.status_code == 404:
        return Result.down(f"{where} not found: no leader elected (or leader election is off)")
    state = lease_state(response.json())
    holder, duration, age = state.holder, state.duration, state.renew_age
    changes = _leader_changes(client.memory, f"lease:{cfg.namespace}/{cfg.lease}", state.transitions,
                              cfg.flapping_window)
    details = {"holder": holder, "lease_duration_seconds": duration, "lease_transitions": state.transitions,
               "renew_age_seconds": state.renew_age_rounded, "leader_changes": changes}
    if not holder:
        return Result.down(f"no leader: {where} has no holder", **details)
    if age is None:
        return Result.down(f"no leader: {where} has no renewTime", **details)
    if age > duration + cfg.skew:
        return Result.down(
            f"no leader: {where} not renewed for {format_duration(round(age))} "
            f"(lease duration {format_duration(duration)}, holder {holder})",
            **details,
        )
    if changes >= cfg.flapping_changes:
        return Result.degraded(
            f"leader flapping: {changes} leader changes in {format_duration(cfg.flapping_window)} (now {holder})",
            **details,
        )
    return Result.up(f"held by {holder}, renewed {age:.0f}s ago", **details)


def _leader_changes(memory: dict, key: str, transitions: int, window: float) -> int:
    """Leader changes seen within `window` seconds, from increases of leaseTransitions between runs."""
    now = time.monotonic()
    last, seen = memory.get(key, (None, deque()))
    if last is not None and transitions > last:
        seen.extend([now] * min(transitions - last, 100))
    while seen and now - seen[0] > window:
        seen.popleft()
    memory[key] = (transitions, seen)
    return len(seen)
