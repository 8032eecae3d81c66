"""The built-in config `serve` uses when no file is given: it watches something real at once
(the service itself), so a first start shows live data."""

from __future__ import annotations

import os

from monitor.config import Config, parse_config

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
    storage = storage or os.environ.get("PM_STORAGE_URL", "sqlite:///platform-monitor.db")
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    text = DEFAULT_CONFIG_TEMPLATE.format(host=host, port=port, storage=storage, probe_host=probe_host)
    return parse_config(text, "<built-in default config>")
