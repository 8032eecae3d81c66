"""What the UI's figures draw, in unix seconds: state intervals, incidents and maintenance
occurrences, converted from the history backend's records. Pure (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from storage.records import IncidentOut, MaintenanceOccurrence
from storage.records import Interval as HistoryInterval

__all__ = ["Incident", "Interval", "Maintenance", "incident_of", "intervals_of", "maintenance_of"]


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in one state; `reason` is the one given when the state was entered."""

    start: float
    end: float
    state: str
    reason: str = ""


@dataclass(slots=True)
class Incident:
    """A stretch during which a component was not up (down or degraded); `end` is None while it
    lasts. `checks` are the ids of its checks that went degraded or down during it."""

    component: str
    start: float
    end: float | None
    worst: str
    reason: str
    checks: list[str] = field(default_factory=list)
    maintenance: float = 0.0  # seconds of it inside maintenance windows


@dataclass(frozen=True, slots=True)
class Maintenance:
    """One occurrence of a maintenance window: its title, times, and what it covers (patterns)."""

    name: str
    start: float
    end: float
    components: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()


def intervals_of(found: Iterable[HistoryInterval]) -> list[Interval]:
    return [Interval(i.start.timestamp(), i.end.timestamp(), i.state, i.reason) for i in found]


def incident_of(found: IncidentOut) -> Incident:
    return Incident(found.component, found.start.timestamp(), None if found.end is None else found.end.timestamp(),
                    found.worst, found.reasons[0].reason if found.reasons else "", list(found.checks),
                    found.maintenance_seconds)


def maintenance_of(found: Iterable[MaintenanceOccurrence]) -> list[Maintenance]:
    return [Maintenance(m.name, m.start.timestamp(), m.end.timestamp(), tuple(m.components), tuple(m.checks))
            for m in found]
