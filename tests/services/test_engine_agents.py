"""The new kinds as a user runs them: `platform-monitor check` against a config with one of each
(real PostgreSQL, MariaDB, Redis, node exporter and the test API), and their phase metrics from
the engine. Secrets from the environment never reach the output."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import make_url

from monitor.cli import main
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.metrics import EngineCollector
from tests.services.paas_api import PASSWORD, USER

Api = Peer = Any


def _config(postgres_url: str, mysql_url: str, redis_url: str, node_exporter: Peer, api: Api) -> str:
    pg, my = make_url(postgres_url), make_url(mysql_url)
    return f"""
checks:
  - {{name: pg, component: data, kind: postgres, host: {pg.host}, port: {pg.port}, user: {pg.username},
     database: {pg.database}, expect_role: primary}}
  - {{name: mysql, component: data, kind: mysql, host: {my.host}, port: {my.port or 3306}, user: {my.username},
     database: {my.database}}}
  - {{name: redis, component: data, kind: redis, url: "{redis_url}", expect_role: primary}}
  - {{name: node, component: hosts, kind: node_exporter, url: "{node_exporter.url}/metrics", load: null,
     filesystem: {{fstypes_exclude: [], mountpoints_include: "/", warn: 0.01, critical: 0.001}}}}
  - name: login
    component: paas
    kind: flow
    steps:
      - name: login
        request: {{method: POST, url: "{api.url}/api/login", json: {{user: {USER}, password: "${{PAAS_PW}}"}}}}
        capture: {{token: {{json: access_token}}}}
      - name: apps
        request: {{url: "{api.url}/api/apps", headers: {{Authorization: "Bearer {{{{ token }}}}"}}}}
"""


def test_check_command_runs_every_new_kind(postgres_url, mysql_url, redis_url, node_exporter, api, tmp_path,
                                          capsys, monkeypatch) -> None:
    monkeypatch.setenv("PAAS_PW", PASSWORD)
    path = tmp_path / "config.yaml"
    path.write_text(_config(postgres_url, mysql_url, redis_url, node_exporter, api))
    assert main(["check", "--config", str(path), "--json"]) == 0
    output = capsys.readouterr().out
    results = json.loads(output)
    assert {cid: r["status"] for cid, r in results.items()} == {
        "data/pg": "up", "data/mysql": "up", "data/redis": "up", "hosts/node": "up", "paas/login": "up"}, output
    assert PASSWORD not in output


async def test_engine_exports_each_kinds_phases(postgres_url, mysql_url, redis_url, node_exporter, api) -> None:
    config = parse_config(_config(postgres_url, mysql_url, redis_url, node_exporter, api), env={"PAAS_PW": PASSWORD})
    engine = Engine(config)
    await engine.start(schedule=False)
    try:
        for check in engine.checks.values():
            result = await engine.runner.run(check)
            assert result.status.value == "up", (check.id, result.reason)
    finally:
        await engine.stop()
    [family] = [m for m in EngineCollector(engine.state, engine.stats).collect()
                if m.name == "platform_monitor_check_phase_duration_seconds"]
    phases: dict[str, set[str]] = {}
    for sample in family.samples:
        phases.setdefault(sample.labels["check"], set()).add(sample.labels["phase"])
    assert phases == {
        "data/pg": {"connect", "query", "role"},
        "data/mysql": {"connect", "query", "role"},
        "data/redis": {"connect", "ping", "role"},
        "hosts/node": {"scrape", "parse"},
        "paas/login": {"login", "apps"},
    }
