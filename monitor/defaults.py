"""The built-in config `serve` uses when no file is given: it watches something real at once
(the service itself, and the current kubeconfig context's cluster when there is one), so a first
start shows live data."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import yaml

from monitor.config import Config, parse_config

log = logging.getLogger(__name__)

DEFAULT_CONFIG_TEMPLATE = """\
server: {{host: "{host}", port: {port}}}
storage: {{url: "{storage}"}}
defaults: {{interval: 15s, timeout: 5s}}
checks:
  - name: healthz
    component: platform-monitor
    kind: http
    url: http://{probe_host}:{port}/healthz
    expect: {{status: [200], json: [{{path: status, equals: ok}}], max_latency: 500ms}}
  - name: readyz
    component: platform-monitor
    kind: http
    url: http://{probe_host}:{port}/readyz
    expect: {{status: [200]}}
  - name: port
    component: platform-monitor
    kind: tcp
    host: {probe_host}
    port: {port}
"""


def default_config(host: str = "127.0.0.1", port: int = 8080, storage: str | None = None) -> Config:
    """The default config for a service listening on host:port, storing into `storage`."""
    return parse_config(default_config_text(host, port, storage), "<built-in default config>")


def default_config_text(host: str = "127.0.0.1", port: int = 8080, storage: str | None = None) -> str:
    """The default config's YAML: `serve --workers N` writes it to a file that its workers share."""
    storage = storage or os.environ.get("PM_STORAGE_URL", "sqlite:///platform-monitor.db")
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    text = DEFAULT_CONFIG_TEMPLATE.format(host=host, port=port, storage=storage, probe_host=probe_host)
    if (cluster := current_cluster()) is not None:
        text += "clusters:\n  - " + json.dumps(cluster) + "\n"
        # the current context may well be production: say loudly what is watched and how not to
        log.warning(
            "no config file: also watching the cluster of the current kubeconfig context %r (from %s), "
            "read-only; to watch only this service, run with a config file (platform-monitor serve "
            "--config FILE) or unset the context (KUBECONFIG=/dev/null)", cluster["context"], cluster["kubeconfig"],
        )
    return text


def current_cluster() -> dict[str, str] | None:
    """A `clusters:` entry for the current context of $KUBECONFIG (else ~/.kube/config), or None
    when there is no kubeconfig or it names no context."""
    setting = os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [Path(p).expanduser() for p in setting.split(":") if p]
    context = None
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            context = str(data["current-context"])
            break  # kubectl takes current-context from the first file that sets it
    if context is None:
        return None
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", context).strip("-._")[:100] or "current"
    return {"name": name, "kubeconfig": ":".join(str(p) for p in paths), "context": context}
