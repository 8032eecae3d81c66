"""A small history with answers computed by hand, shared by the history tests.

Day T0 = Monday 2026-03-02 00:00 UTC. Components `web` (checks web/a, web/b; web/old retired at
+6 h) and `db` (db/x). Check state changes (all up at T0):
  web/a  down +2:00 ("HTTP 503") → up +2:30; degraded +10:00 ("slow") → up +11:00
  web/b  down +2:10 ("connection refused") → up +2:20
  db/x   down +5:00 ("timeout after 10s") → up +7:00
so web is down +2:00..+2:30 and degraded +10:00..+11:00, db down +5:00..+7:00; a maintenance
window covers db +6:00..+8:00. web/a has a raw result every minute from T0 to +12:00: latency
0.1 s when up, 2.0 s degraded, 10 s down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from storage import maintenance, queries
from storage.writer import Writer

T0 = datetime(2026, 3, 2, tzinfo=UTC)
H = 3600.0  # seconds
CHECKS = {"web/a": "web", "web/b": "web", "web/old": "web", "db/x": "db"}
CHECK_CHANGES = [
    ("web/a", 0, "unknown", "up", "HTTP 200"),
    ("web/b", 0, "unknown", "up", "connected"),
    ("web/old", 0, "unknown", "up", "HTTP 200"),
    ("db/x", 0, "unknown", "up", "connected"),
    ("web/a", 2 * H, "up", "down", "HTTP 503"),
    ("web/b", 2 * H + 600, "up", "down", "connection refused"),
    ("web/b", 2 * H + 1200, "down", "up", "connected"),
    ("web/a", 2.5 * H, "down", "up", "HTTP 200"),
    ("db/x", 5 * H, "up", "down", "timeout after 10s"),
    ("db/x", 7 * H, "down", "up", "connected"),
    ("web/a", 10 * H, "up", "degraded", "slow"),
    ("web/a", 11 * H, "degraded", "up", "HTTP 200"),
]
COMPONENT_CHANGES = [
    ("web", 0, "unknown", "up", "web/a: HTTP 200"),
    ("db", 0, "unknown", "up", "db/x: connected"),
    ("web", 2 * H, "up", "down", "web/a: HTTP 503"),
    ("web", 2.5 * H, "down", "up", "web/a: HTTP 200"),
    ("db", 5 * H, "up", "down", "db/x: timeout after 10s"),
    ("db", 7 * H, "down", "up", "db/x: connected"),
    ("web", 10 * H, "up", "degraded", "web/a: slow"),
    ("web", 11 * H, "degraded", "up", "web/a: HTTP 200"),
]
MAINTENANCE = (6 * H, 8 * H)  # over db


def at(seconds: float) -> datetime:
    """T0 + seconds."""
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> float:
    return T0.timestamp() + seconds


def web_a_status(offset: float) -> str:
    if 2 * H <= offset < 2.5 * H:
        return "down"
    if 10 * H <= offset < 11 * H:
        return "degraded"
    return "up"


LATENCY = {"up": 0.1, "degraded": 2.0, "down": 10.0}


def seed(engine, *, results_until: float = 12 * H) -> Writer:
    """Write the scenario (catalogue, changes, maintenance, web/a's results); returns the writer."""
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": cid, "component": comp, "name": cid.split("/")[1], "kind": "http",
                                        "settings": {}} for cid, comp in CHECKS.items()], now=ts(-H))
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": cid, "component": comp, "name": cid.split("/")[1], "kind": "http",
                                        "settings": {}} for cid, comp in CHECKS.items() if cid != "web/old"],
                            now=ts(6 * H))
        maintenance.add_window(s, fields={"name": "db upgrade", "components": ["db"],
                                          "starts_at": at(MAINTENANCE[0]), "ends_at": at(MAINTENANCE[1])},
                               now=ts(-H))
    writer = Writer(engine)
    for cid, offset, old, new, reason in CHECK_CHANGES:
        writer.put_change("check", cid, ts(offset), old, new, reason)
    for comp, offset, old, new, reason in COMPONENT_CHANGES:
        writer.put_change("component", comp, ts(offset), old, new, reason)
    write_results(writer, 0, results_until)
    writer.flush()
    return writer


def write_results(writer: Writer, start: float, end: float) -> None:
    """web/a's runs every minute in [start, end) (offsets from T0, seconds)."""
    offset = start
    while offset < end:
        status = web_a_status(offset)
        writer.put_result("web/a", ts(offset), status, LATENCY[status],
                          "HTTP 503" if status == "down" else "", None)
        offset += 60
