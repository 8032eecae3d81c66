"""/api/v1/components: each component's derived status, its checks, and its display settings
(title, group, description) from the config's `components`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from monitor.api.deps import EngineDep
from monitor.api.schemas import ComponentOut
from monitor.instants import from_unix
from monitor.record_config import component_entry

__all__ = ["display_order", "list_components", "router"]

router = APIRouter(prefix="/api/v1/components", tags=["components"])


@router.get("", response_model=list[ComponentOut])
def list_components(engine: EngineDep) -> list[ComponentOut]:
    """Every component: the worst confirmed state of its checks, since when, counts by state; its
    title (default: its name), group and description from the config's `components`."""
    out = []
    checks = engine.state.checks
    settings = engine.config.components
    for comp in list(engine.state.components.values()):
        counts: dict[str, int] = {}
        for cid in comp.check_ids:
            status = checks[cid].status.value
            counts[status] = counts.get(status, 0) + 1
        _, display = component_entry(settings, comp.name)
        out.append(
            ComponentOut(
                name=comp.name,
                title=display.title or comp.name,
                group=display.group,
                description=display.description,
                status=comp.status.value,
                since=from_unix(comp.since),
                checks=counts,
                check_ids=list(comp.check_ids),
            )
        )
    return out


def display_order(engine: EngineDep) -> Callable[[ComponentOut], tuple[int, int, str]]:
    """A sort key listing components as the config's `components` does: ungrouped ones first, then
    each group where its first entry stands in the file; inside either, by the position of the
    entry that gives a component its settings, then by name (components without one last)."""
    settings = engine.config.components
    groups: dict[str, int] = {}
    for position, entry in enumerate(settings.values()):
        if entry.group is not None:
            groups.setdefault(entry.group, position + 1)

    def key(comp: ComponentOut) -> tuple[int, int, str]:
        position, entry = component_entry(settings, comp.name)
        return (0 if entry.group is None else groups[entry.group], position, comp.name)

    return key
