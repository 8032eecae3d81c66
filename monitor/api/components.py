"""/api/v1/components: each component's derived status and its checks."""

from __future__ import annotations

from fastapi import APIRouter

from monitor.api.deps import EngineDep
from monitor.api.schemas import ComponentOut
from monitor.instants import from_unix

router = APIRouter(prefix="/api/v1/components", tags=["components"])


@router.get("", response_model=list[ComponentOut])
def list_components(engine: EngineDep) -> list[ComponentOut]:
    """Every component: the worst confirmed state of its checks, since when, counts by state."""
    out = []
    checks = engine.state.checks
    for comp in list(engine.state.components.values()):
        counts: dict[str, int] = {}
        for cid in comp.check_ids:
            status = checks[cid].status.value
            counts[status] = counts.get(status, 0) + 1
        out.append(
            ComponentOut(
                name=comp.name,
                status=comp.status.value,
                since=from_unix(comp.since),
                checks=counts,
                check_ids=list(comp.check_ids),
            )
        )
    return out
