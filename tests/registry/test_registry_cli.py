"""`platform-monitor check` running registry checks as a user would: exit status, table and JSON."""

from __future__ import annotations

import json

from monitor.cli import main
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
