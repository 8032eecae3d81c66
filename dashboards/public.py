"""The public status page's data (/status/data, a contract of that page: path and shape kept):
components, their states, uptime bars, incidents and maintenance windows, built field by field
from an allow-list out of the same typed reads /api/v1 serves, so no check, URL, reason or setting
can reach outsiders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy.orm import Session

from monitor.api.components import display_order, list_components
from monitor.api.deps import EngineDep
from monitor.api.history import get_incidents, get_overview, list_maintenance
from monitor.api.times import iso_text
from storage.records import DailySeries

__all__ = ["PUBLIC_INCIDENTS", "UPCOMING", "UPTIME_DAYS", "public_status"]

UPTIME_DAYS = 90  # the uptime bars' length
PUBLIC_INCIDENTS = timedelta(days=30)  # incidents listed on the public page, looking back
UPCOMING = timedelta(days=7)  # maintenance windows listed ahead of now


def public_status(engine: EngineDep, session: Session, *, title: str) -> dict[str, Any]:
    """Everything the public page shows. Names of components are public by nature, and so are
    their display settings (title, group, description: written for readers) and a maintenance
    window's title and times; nothing else from the config or the targets is. Components come in
    the config's order (monitor.api.components.display_order): ungrouped first, then by group."""
    now = datetime.now(UTC)
    comps = sorted(list_components(engine), key=display_order(engine))
    names = [c.name for c in comps]
    found = get_overview(session, engine, days=UPTIME_DAYS)
    overview = {c.id: c for c in found.components}
    day_starts = [d.date() for d in found.day_starts]
    incidents = get_incidents(session, from_=now - PUBLIC_INCIDENTS, to=now)
    return {
        "title": title,
        "as_of": iso_text(now),
        "components": [{"name": c.name, "title": c.title, "group": c.group, "description": c.description,
                        "status": c.status, "since": iso_text(c.since)} for c in comps],
        "uptime": {
            "days": UPTIME_DAYS,
            "uptime": {name: _fraction(overview[name].availability) if name in overview else None for name in names},
            "series": {name: _days(day_starts, overview[name].daily) if name in overview else [] for name in names},
        },
        "incidents": [
            {"component": i.component, "start": iso_text(i.start), "end": iso_text(i.end),
             "duration": round(i.duration_seconds, 3), "worst": i.worst}
            for i in incidents if i.component in names
        ],
        "maintenance": _maintenance(session, now=now, names=names),
    }


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 6)


def _days(day_starts: list[Any], daily: DailySeries) -> list[dict[str, Any]]:
    out = []
    for i, day in enumerate(day_starts):
        seconds = {"down": daily.down_seconds[i], "degraded": daily.degraded_seconds[i],
                   "unknown": daily.unknown_seconds[i], "maintenance": daily.maintenance_seconds[i]}
        out.append({"date": day.isoformat(), "uptime": _fraction(daily.availability[i]),
                    "worst": daily.worst[i] or "nodata",
                    "seconds": {k: round(v, 3) for k, v in seconds.items() if v > 0}})
    return out


def _maintenance(session: Session, *, now: datetime, names: list[str]) -> list[dict[str, Any]]:
    """Open and coming occurrences by title and times, soonest first, with the current components
    they cover (by their component patterns: a window naming only checks says nothing public)."""
    found = sorted(((occ, w.id) for w in list_maintenance(session, from_=now, to=now + UPCOMING)
                    for occ in w.occurrences), key=lambda o: (o[0].start, o[1]))
    out = []
    for occ, _ in found:
        covered = [n for n in names if any(fnmatchcase(n, p) for p in occ.components)]
        if covered:
            out.append({"title": occ.name, "start": iso_text(occ.start), "end": iso_text(occ.end),
                        "active": occ.start <= now < occ.end, "components": covered})
    return out
