"""The public status page's data: components, their states, uptime bars, incidents and
maintenance windows, built field by field from an allow-list, so no check, URL, reason or
setting can reach outsiders."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy.orm import Session

from dashboards import widgets
from monitor.engine import Engine

PUBLIC_INCIDENT_DAYS = 30  # incidents listed on the public page, looking back
DAY = 86400.0  # seconds


def public_status(engine: Engine, session: Session, *, now: float, title: str,
                  slo: widgets.Slo | None = None) -> dict[str, Any]:
    """Everything the public page shows. Names of components are public by nature, and so are a
    maintenance window's title and times; nothing else from the config or the targets is."""
    comps = sorted(list(engine.state.components.values()), key=lambda c: c.name)
    names = [c.name for c in comps]
    bars = widgets.uptime_bars(session, kind="component", names=names, now=now, slo=slo)
    found = widgets.incident_list(session, start=now - PUBLIC_INCIDENT_DAYS * DAY, end=now, now=now, alerts=False)
    return {
        "title": title,
        "as_of": widgets.iso(now),
        "components": [{"name": c.name, "status": c.status.value, "since": widgets.iso(c.since)} for c in comps],
        "uptime": {
            "days": bars["days"],
            "uptime": {name: bars["uptime"][name] for name in names},
            "series": {
                name: [{"date": d["date"], "uptime": d["uptime"], "worst": d["worst"], "seconds": d["seconds"]}
                       for d in bars["series"].get(name, [])]
                for name in names
            },
        },
        "incidents": [
            {"component": i.component, "start": widgets.iso(i.start), "end": widgets.iso(i.end),
             "duration": round((i.end if i.end is not None else now) - i.start, 3), "worst": i.worst}
            for i in found
            if i.component in engine.state.components
        ],
        "maintenance": _maintenance(session, now=now, names=names),
    }


def _maintenance(session: Session, *, now: float, names: list[str]) -> list[dict[str, Any]]:
    """Open and coming windows by title and times, with the current components they cover (by
    their component patterns: a window naming only checks says nothing public)."""
    out = []
    for w in widgets.maintenance_list(session, now=now):
        covered = [n for n in names if any(fnmatchcase(n, p) for p in w["components"])]
        if covered:
            out.append({"title": w["name"], "start": w["start"], "end": w["end"], "active": w["active"],
                        "components": covered})
    return out
