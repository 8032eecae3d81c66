"""Known history written straight into a fresh database before the service starts: a catalogue
seen ten days ago (nothing before: no data), registry unknown for two days (its probes could not
judge: a genuine monitoring gap), an outage two days ago, a retired check, a day of latency
results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from storage.db import create_db_engine, upgrade
from storage.models import CheckRow, ComponentChangeRow, ResultRow, StateChangeRow

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class Seeded:
    first_seen: float  # the catalogue's checks appeared then
    outage_start: float  # paas/api went down (connection refused) ...
    outage_end: float  # ... and came back up
    retired_at: float  # registry/old-mirror was removed from the config
    unknown: tuple[float, float]  # registry's checks (so registry) could not be judged then


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def seed_history(url: str, *, now: float, checks: dict[str, tuple[str, str, str]]) -> Seeded:
    """`checks`: id → (component, name, kind) of the checks the test's config has; each gets a
    catalogue row ten days old. paas/api (if present) had a two-hour outage two days ago."""
    seeded = Seeded(
        first_seen=now - 10 * DAY,
        outage_start=now - 2 * DAY,
        outage_end=now - 2 * DAY + 2 * HOUR,
        retired_at=now - DAY,
        unknown=(now - 6 * DAY, now - 4 * DAY),
    )
    engine = create_db_engine(url)
    upgrade(engine)
    catalog = {**checks, "registry/old-mirror": ("registry", "old-mirror", "http")}
    with Session(engine) as s, s.begin():
        for cid, (component, name, kind) in catalog.items():
            s.add(CheckRow(id=cid, component=component, name=name, kind=kind, settings={},
                           first_seen=_dt(seeded.first_seen), updated_at=_dt(seeded.first_seen),
                           retired_at=_dt(seeded.retired_at) if name == "old-mirror" else None))
            s.add(StateChangeRow(check_id=cid, ts=_dt(seeded.first_seen), old="unknown", new="up", reason="HTTP 200"))
        components = sorted({c for c, _, _ in catalog.values()})
        for comp in components:
            s.add(ComponentChangeRow(component=comp, ts=_dt(seeded.first_seen), old="unknown", new="up", reason=""))
        s.add(StateChangeRow(check_id="paas/api", ts=_dt(seeded.outage_start), old="up", new="down",
                             reason="connection refused"))
        s.add(StateChangeRow(check_id="paas/api", ts=_dt(seeded.outage_end), old="down", new="up", reason="HTTP 200"))
        s.add(ComponentChangeRow(component="paas", ts=_dt(seeded.outage_start), old="up", new="down",
                                 reason="paas/api: connection refused"))
        s.add(ComponentChangeRow(component="paas", ts=_dt(seeded.outage_end), old="down", new="up",
                                 reason="paas/api: HTTP 200"))
        gap_start, gap_end = seeded.unknown
        for cid in [c for c in catalog if c.startswith("registry/")]:
            s.add(StateChangeRow(check_id=cid, ts=_dt(gap_start), old="up", new="unknown",
                                 reason="probe agent unreachable"))
            s.add(StateChangeRow(check_id=cid, ts=_dt(gap_end), old="unknown", new="up", reason="HTTP 200"))
        s.add(ComponentChangeRow(component="registry", ts=_dt(gap_start), old="up", new="unknown",
                                 reason="registry/port: probe agent unreachable"))
        s.add(ComponentChangeRow(component="registry", ts=_dt(gap_end), old="unknown", new="up",
                                 reason="registry/port: HTTP 200"))
        step = 180.0  # seconds between seeded runs: a day of them
        t = now - DAY
        i = 0
        while t < now - 60:
            s.add(ResultRow(check_id="paas/api", ts=_dt(t), status="up", latency=0.010 + (i % 7) * 0.004,
                            reason="HTTP 200", details=None))
            t += step
            i += 1
    engine.dispose()
    return seeded
