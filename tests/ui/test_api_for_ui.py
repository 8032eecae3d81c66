"""What /api/v1 gained for the UI, over HTTP on the UI suite's service (its seeded outage, its
planned window): the change list, incidents with their alerts, maintenance of one component or
check, a check's daily uptime; and the layer rule the UI keeps: `dashboards` imports the API layer
and storage.history's public reads only."""

from __future__ import annotations

import ast
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

import dashboards

ALLOWED = ("monitor.api", "storage.history", "storage.records")
FORBIDDEN = ("monitor.engine", "monitor.service", "storage.state_queries", "storage.models")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def test_changes_incidents_maintenance_and_daily_uptime(ui_service):
    get = lambda path: httpx.get(ui_service.url + path, timeout=10)  # noqa: E731
    seeded = ui_service.seeded
    window = f"from={iso(seeded.outage_start - 60)}&to={iso(seeded.outage_end + 60)}"
    changes = get(f"/api/v1/changes?{window}").json()
    assert changes["truncated"] is False and changes["from"].startswith(iso(seeded.outage_start - 60)[:19])
    assert [(c["kind"], c["subject"], c["old"], c["new"]) for c in changes["changes"]
            if c["subject"] in ("paas", "paas/api")] == [
        ("check", "paas/api", "down", "up"), ("component", "paas", "down", "up"),
        ("check", "paas/api", "up", "down"), ("component", "paas", "up", "down")]
    assert get(f"/api/v1/changes?{window}&limit=1").json()["truncated"] is True
    assert get("/api/v1/changes?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z").status_code == 422

    plain = get(f"/api/v1/incidents?from={iso(time.time() - 7 * 86400)}").json()
    alerted = get(f"/api/v1/incidents?alerts=true&from={iso(time.time() - 7 * 86400)}").json()
    assert plain and all(i["alerts"] == [] for i in plain)
    assert [{k: v for k, v in i.items() if k != "alerts"} for i in alerted][-1] == {
        k: v for k, v in plain[-1].items() if k != "alerts"}

    def windows(query: str) -> list[str]:
        return [w["name"] for w in get(f"/api/v1/maintenance?{query}").json()]

    assert windows("component=registry") == ["registry disk swap"] == windows("check=registry/port")
    assert windows("component=paas") == [] == windows("check=paas/api")

    daily = get("/api/v1/checks/paas/api/daily").json()
    assert daily["check_id"] == "paas/api" and daily["days"] == 90 and len(daily["daily"]["worst"]) == 90
    assert daily["day_starts"][-1][:10] == datetime.now(UTC).date().isoformat()
    assert get("/api/v1/checks/paas/nope/daily").status_code == 404


def test_dashboards_import_only_the_api_layer_and_public_storage_reads():
    root = Path(dashboards.__file__).parent
    found = []
    for module in root.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found += [f"{module.name}: {name}" for name in names
                      if name.startswith(("monitor.", "storage.")) and name != "monitor.__version__"
                      and (not name.startswith(ALLOWED) or name.startswith(FORBIDDEN))]
    assert found == []
