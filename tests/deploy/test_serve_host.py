"""Where `serve` listens (issue 14, item 10): `--host` wins, then $PM_HOST (the image sets
0.0.0.0), then the config's server.host. All on loopback addresses: 127.0.0.2 is loopback too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.peers import free_port
from tests.targets import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("config_host", "env_host", "flag", "expected"), [
    ("127.0.0.2", "127.0.0.1", [], "127.0.0.1"),                        # the environment over the config
    (None, "127.0.0.1", [], "127.0.0.1"),                               # the environment alone (the image)
    ("127.0.0.2", "127.0.0.2", ["--host", "127.0.0.1"], "127.0.0.1"),   # the flag over both
    ("127.0.0.1", "", [], "127.0.0.1"),                                 # an empty PM_HOST is no setting
])
def test_serve_listens_where_flag_environment_and_config_say(tmp_path, config_host, env_host, flag, expected):
    port = free_port()
    host = f"host: {config_host}, " if config_host else ""
    path = tmp_path / "config.yaml"
    path.write_text(f'server: {{{host}port: {port}}}\nstorage: {{url: "sqlite:///{tmp_path / "pm.db"}"}}\n')
    log = tmp_path / "serve.log"
    env = {**os.environ, "PM_HOST": env_host, "PM_PORT": ""}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path), *flag],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_for(lambda: f"Uvicorn running on http://{expected}:{port}" in log.read_text(), timeout=30,
                 what=f"serve on {expected}:{port}")
        assert httpx.get(f"http://{expected}:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_pm_port_overrides_the_config_port(tmp_path):
    port, other = free_port(), free_port()
    path = tmp_path / "config.yaml"
    path.write_text(f'server: {{host: 127.0.0.1, port: {other}}}\nstorage: {{url: "sqlite:///{tmp_path / "pm.db"}"}}\n')
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path)], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PM_PORT": str(port)}, cwd=ROOT)
    try:
        wait_for(lambda: f"Uvicorn running on http://127.0.0.1:{port}" in log.read_text(), timeout=30,
                 what="serve on $PM_PORT")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
