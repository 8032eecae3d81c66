"""The alert and silence routes answer the same JSON with typed response models as they did
without: every route's answer over one scenario (an alert firing, a silence added and ended, an
acknowledgement), with the values that change per run masked but their format kept, equals the
answer recorded before the routes had response models (alert_routes_golden.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from monitor.api import create_app
from monitor.config import parse_config
from tests.alerts.test_delivery import TOKEN, env, receiver, start_service, target  # noqa: F401
from tests.targets import wait_for

GOLDEN = Path(__file__).with_name("alert_routes_golden.json")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
HEX = re.compile(r"^[0-9a-f]{16,}$")
VARYING = {"port", "url", "attempts", "depth", "last_errors", "next_attempt_at"}


def mask(value: Any, key: str = "") -> Any:
    """`value` with per-run values replaced by what stays: a time's format (offset, fraction or
    not), a hex id's shape; keys kept, list lengths kept."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if key in VARYING:
        return f"<{key}>"
    if isinstance(value, str):
        if m := ISO.match(value):
            return f"<time{'.f' if m.group(1) else ''}{m.group(2) or ' naive'}>"
        if HEX.match(value):
            return "<hex>"
        return re.sub(r"\b[0-9a-f]{16,}\b", "<hex>", re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", value))
    return value


def scenario(svc, target) -> dict[str, Any]:  # noqa: F811
    auth = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[str, Any] = {}
    wait_for(lambda: svc.json("/api/v1/checks")[0]["state"]["status"] == "up", what="check up")
    created = httpx.post(f"{svc.url}/api/v1/silences", headers=auth, json={
        "matchers": {"component": "paas"}, "duration": "1h", "comment": "swap", "created_by": "ann"})
    out["POST /api/v1/silences"] = [created.status_code, created.json()]
    out["GET /api/v1/silences"] = svc.json("/api/v1/silences")
    target.behaviour.status = 503
    wait_for(lambda: svc.json("/api/v1/alerts")["silenced"], what="the alert silenced")
    out["GET /api/v1/alerts silenced"] = svc.json("/api/v1/alerts")
    ended = httpx.delete(f"{svc.url}/api/v1/silences/{created.json()['id']}", headers=auth)
    out["DELETE /api/v1/silences/{id}"] = [ended.status_code, ended.json()]
    missing = httpx.delete(f"{svc.url}/api/v1/silences/nope", headers=auth)
    out["DELETE /api/v1/silences/nope"] = [missing.status_code, missing.json()]
    wait_for(lambda: any(d["outcome"] == "delivered" for d in svc.json("/api/v1/alerts")["deliveries"]),
             what="firing delivered")
    wait_for(lambda: svc.json("/api/v1/alerts")["firing"], what="firing")
    out["GET /api/v1/alerts"] = svc.json("/api/v1/alerts")
    out["GET /api/v1/alerts/events"] = svc.json("/api/v1/alerts/events")
    ack = httpx.post(f"{svc.url}/api/v1/alerts/check:paas/web/ack", json={"by": "bob"}, headers=auth)
    out["POST /api/v1/alerts/{key}/ack"] = [ack.status_code, ack.json()]
    unknown = httpx.post(f"{svc.url}/api/v1/alerts/check:nope/ack", headers=auth)
    out["POST /api/v1/alerts/nope/ack"] = [unknown.status_code, unknown.json()]
    return out


def test_alert_routes_answer_the_recorded_json(target, receiver, env, tmp_path):  # noqa: F811
    svc = start_service(tmp_path, target.url, receiver)
    try:
        got = mask(scenario(svc, target))
    finally:
        svc.stop()
    if not GOLDEN.exists():  # recording run (done once, before the routes had response models)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())


def _typed(schema: dict[str, Any]) -> bool:
    """A named model, or a list of one: a schema with documented fields, not a bare object."""
    return "$ref" in schema or (schema.get("type") == "array" and "$ref" in schema.get("items", {}))


def test_every_api_route_has_a_typed_response_model():
    openapi = create_app(parse_config("checks: []")).openapi()
    untyped = []
    for path, operations in openapi["paths"].items():
        for method, op in operations.items() if path.startswith("/api/v1/") else ():
            for code, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if code.startswith("2") and code != "204" and (schema is None or not _typed(schema)):
                    untyped.append(f"{method.upper()} {path}")
    assert untyped == []
