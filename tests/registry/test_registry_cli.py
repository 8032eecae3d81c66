"""Registry checks run as a user runs them: `platform-monitor check` (exit status, table, JSON) and
the engine (phase metrics, a bearer token kept from one scheduled run to the next)."""

from __future__ import annotations

import json

from monitor.cli import main
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.metrics import EngineCollector
from tests.registry.images import Pusher, canary


def test_check_command_runs_registry_checks(docker_registry_factory, tmp_path, capsys, monkeypatch):
    registry = docker_registry_factory({"robot": "s3cret"})
    pusher = Pusher(registry.url, auth=registry.auth)
    digest = pusher.image("library/busybox", "1.36", canary())
    pusher.close()
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret")
    config = tmp_path / "config.yaml"
    config.write_text(f"""
checks:
  - name: prod
    component: registries
    kind: registry
    url: {registry.url}
    auth: {{username: robot, password: "${{REGISTRY_PASSWORD}}"}}
    images: [library/busybox:1.36]
    pull_blob: true
  - name: missing
    component: registries
    kind: registry
    url: {registry.url}
    auth: {{username: robot, password: "${{REGISTRY_PASSWORD}}"}}
    images: [library/busybox:gone]
""")

    assert main(["check", "--config", str(config), "--only", "registries/prod", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    prod = results["registries/prod"]
    assert prod["status"] == "up", prod["reason"]
    assert prod["details"]["images"][0]["digest"] == digest
    assert set(prod["details"]["phases"]) == {"ping", "auth", "manifest", "blob"}
    assert "s3cret" not in json.dumps(results)

    assert main(["check", "--config", str(config)]) == 1  # one check is down
    table = capsys.readouterr().out.splitlines()
    missing = next(line for line in table if line.startswith("registries/missing"))
    assert missing.split()[1] == "down"
    assert missing.endswith("library/busybox:gone: MANIFEST_UNKNOWN: manifest unknown ({\"Tag\":\"gone\"})")


async def test_engine_exports_phase_metrics_and_reuses_the_token(docker_registry_factory, token_server):
    registry = docker_registry_factory(config_overrides={"auth": token_server.registry_auth()})
    pusher = Pusher(registry.url, authorization=f"Bearer {token_server.push_token('library/busybox')}")
    pusher.image("library/busybox", "1.36", canary())
    pusher.close()
    config = parse_config(f"""
checks:
  - name: prod
    component: registries
    kind: registry
    url: {registry.url}
    auth: {{username: robot, password: s3cret}}
    images: [library/busybox:1.36]
    pull_blob: true
""")
    engine = Engine(config)
    await engine.start(schedule=False)
    try:
        check = engine.checks["registries/prod"]
        first = await engine.runner.run(check)
        second = await engine.runner.run(check)
    finally:
        await engine.stop()

    assert (first.status.value, second.status.value) == ("up", "up"), (first.reason, second.reason)
    assert (first.details["token"], second.details["token"]) == ("fetched", "cached")
    assert len(token_server.requests) == 1
    [family] = [m for m in EngineCollector(engine.state, engine.stats).collect()
                if m.name == "platform_monitor_check_phase_duration_seconds"]
    phases = {s.labels["phase"]: s.value for s in family.samples if s.labels["check"] == "registries/prod"}
    assert set(phases) == {"ping", "auth", "manifest", "blob"}
    assert all(value > 0 for value in phases.values())
