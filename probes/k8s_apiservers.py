"""How many kube-apiserver instances are alive behind one endpoint, from their identity Leases
(Kubernetes 1.26+: `kube-system/apiserver-<hash>`, labelled `apiserver.kubernetes.io/identity=
kube-apiserver`, renewed every 10 s). livez/readyz reach one instance; this sees them all."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from probes.base import CheckBase, Duration, ProbeContext, Result, Status, format_duration
from probes.k8s_lease import lease_state
from probes.kube import ApiError, KubeTarget, client_for

API_REQUESTS = [("list", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases")]
IDENTITY_SELECTOR = "apiserver.kubernetes.io/identity=kube-apiserver"
HOSTNAME_LABEL = "kubernetes.io/hostname"


class Check(CheckBase):
    kind: Literal["k8s_apiservers"] = "k8s_apiservers"
    cluster: KubeTarget
    namespace: str = "kube-system"
    expected: int | None = Field(default=None, ge=1)
    """How many apiservers the cluster runs; unset, only "none renewing" is judged (down)."""
    stale_after: Annotated[Duration, Field(gt=0)] = 60.0
    """An identity Lease not renewed for longer is a dead apiserver: they renew every 10 s, and
    leaseDurationSeconds (3600) only says when the garbage collector deletes it."""


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        return gone.dependent_result()
    try:
        # ttl 0: this check alone reads the list, and each run wants the renewTimes of now
        leases = await client.list_items(f"/apis/coordination.k8s.io/v1/namespaces/{cfg.namespace}/leases",
                                         params={"labelSelector": IDENTITY_SELECTOR}, ttl=0.0,
                                         request_timeout=cfg.timeout)
    except ApiError as exc:
        return exc.dependent_result()
    identities = sorted((_identity(lease) for lease in leases), key=lambda i: i["lease"])
    fresh = [i for i in identities if _fresh(i, cfg.stale_after)]
    stale = [i for i in identities if not _fresh(i, cfg.stale_after)]
    details = {"renewing": len(fresh), "identities": len(identities), "expected": cfg.expected,
               "stale_after_seconds": cfg.stale_after, "apiservers": identities}
    count = f"{len(fresh)} of {cfg.expected}" if cfg.expected is not None else f"{len(fresh)}"
    text = f"{count} apiserver{'' if len(fresh) == 1 and cfg.expected is None else 's'} renewing"
    if stale:
        text += " (" + ", ".join(_stale_text(i) for i in stale) + ")"
    if not identities and cfg.expected is None:
        # Before 1.26, or with the APIServerIdentity feature gate off, there are none to count;
        # the apiserver just answered, so this says nothing about it.
        return Result(Status.UNKNOWN, f"no apiserver identity Leases in {cfg.namespace} (Kubernetes before "
                      "1.26, or the APIServerIdentity feature gate off)", details)
    if not fresh:
        return Result.down(text, **details)
    if cfg.expected is not None and len(fresh) < cfg.expected:
        return Result.degraded(text, **details)
    return Result.up(text, **details)


def _identity(lease: dict[str, Any]) -> dict[str, Any]:
    metadata = lease.get("metadata") or {}
    state = lease_state(lease)
    return {"lease": metadata.get("name") or "", "holder": state.holder,
            "hostname": (metadata.get("labels") or {}).get(HOSTNAME_LABEL),
            "renew_age_seconds": state.renew_age_rounded}


def _fresh(identity: dict[str, Any], stale_after: float) -> bool:
    # A renewTime ahead of our clock (negative age) is the apiserver's clock skew, not staleness.
    age = identity["renew_age_seconds"]
    return age is not None and age <= stale_after


def _stale_text(identity: dict[str, Any]) -> str:
    age = identity["renew_age_seconds"]
    if age is None:
        return f"{identity['lease']} has no renewTime"
    return f"{identity['lease']} stale {format_duration(_coarse(age))}"


def _coarse(seconds: float) -> float:
    """Whole minutes from a minute up (`5m` rather than `303s`), whole seconds below."""
    return round(seconds / 60) * 60 if seconds >= 60 else round(seconds)
