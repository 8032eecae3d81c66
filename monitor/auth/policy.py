"""The one table of who may reach which route: every (method, path template) the app serves has a
level here, decided by a person (tests/auth/test_route_matrix.py fails for a route without one).
Pure: a path in, a level out; no credentials, no I/O."""

from __future__ import annotations

import re
from typing import Literal

from starlette.routing import compile_path

Level = Literal["open", "status", "metrics", "viewer", "operator", "admin"]
"""`open`: never asks who you are (probes of the service, job pings, remote agents, the login
itself, static code); `status`: the public status page (anonymous `status` or `viewer` reach it);
`metrics`: /metrics (public, or any token: `auth.metrics`); then the roles."""

OPEN_PREFIXES = ("/api/v1/agent/",)
"""Paths under these are open to this layer whatever their method: remote agents authenticate
there with their own per-agent bearer tokens (docs/agents.md), checked by those routes."""

ROUTES: dict[tuple[str, str], Level] = {
    # the service's own health, job pings, the login flow, code and assets
    ("GET", "/healthz"): "open",
    ("GET", "/readyz"): "open",
    ("GET", "/ping/{token}"): "open",
    ("POST", "/ping/{token}"): "open",
    ("GET", "/ping/{token}/{signal}"): "open",
    ("POST", "/ping/{token}/{signal}"): "open",
    ("GET", "/login"): "open",
    ("POST", "/login"): "open",
    ("GET", "/login/oidc"): "open",
    ("GET", "/login/oidc/callback"): "open",
    ("POST", "/logout"): "open",  # the route checks the session's CSRF token in the form itself
    ("GET", "/static"): "open",
    ("GET", "/vendor/plotly.min.js"): "open",
    ("GET", "/docs-assets"): "open",
    # the pages' language: the switch and the catalog the scripts read (the sign-in and status pages too)
    ("GET", "/language/{lang}"): "open",
    ("GET", "/i18n/{lang}.json"): "open",
    # the public status page
    ("GET", "/status"): "status",
    ("GET", "/status/data"): "status",
    ("GET", "/metrics"): "metrics",
    # pages and reads
    ("GET", "/"): "viewer",
    ("GET", "/components/{name:path}"): "viewer",
    ("GET", "/checks/{check_id:check_id}"): "viewer",
    ("GET", "/replay"): "viewer",
    ("GET", "/incidents"): "viewer",
    ("GET", "/processes"): "viewer",
    ("GET", "/alerts"): "viewer",
    ("GET", "/ui/figure/latency"): "viewer",
    ("GET", "/ui/figure/timeline"): "viewer",
    ("GET", "/ui/figure/incidents"): "viewer",
    ("GET", "/docs"): "viewer",
    ("GET", "/redoc"): "viewer",
    ("GET", "/openapi.json"): "viewer",
    ("GET", "/api/v1/snapshot"): "viewer",
    ("GET", "/api/v1/changes"): "viewer",
    ("GET", "/api/v1/timeline"): "viewer",
    ("GET", "/api/v1/checks"): "viewer",
    ("GET", "/api/v1/checks/{check_id:check_id}"): "viewer",
    ("GET", "/api/v1/checks/{check_id:check_id}/results"): "viewer",
    ("GET", "/api/v1/checks/{check_id:check_id}/history"): "viewer",
    ("GET", "/api/v1/checks/{check_id:check_id}/daily"): "viewer",
    ("GET", "/api/v1/uptime"): "viewer",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/overview"): "viewer",
    ("GET", "/api/v1/maintenance"): "viewer",
    ("GET", "/api/v1/components"): "viewer",
    ("GET", "/api/v1/replicas"): "viewer",
    ("GET", "/api/v1/config/status"): "viewer",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/events"): "viewer",
    ("GET", "/api/v1/silences"): "viewer",
    ("GET", "/api/v1/agents"): "viewer",  # the agents' list (issue 12): a normal read
    # operator: silences, acknowledgements, maintenance
    ("POST", "/api/v1/alerts/{key:path}/ack"): "operator",
    ("POST", "/api/v1/silences"): "operator",
    ("DELETE", "/api/v1/silences/{silence_id}"): "operator",
    ("POST", "/api/v1/maintenance"): "operator",
    ("DELETE", "/api/v1/maintenance/{window_id}"): "operator",
    # admin: the audit log and config reloads
    ("GET", "/audit"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    ("POST", "/api/v1/config/reload"): "admin",
}
MOUNTS = ("/static", "/docs-assets")
"""Templates that are mounts: they cover every path beneath them."""
UNLISTED_READ: Level = "viewer"
UNLISTED_WRITE: Level = "admin"
"""A path no template matches (a 404, or a route someone added without a decision): reads need
a viewer, writes an admin. The route matrix test keeps the second case from shipping."""


def _pattern(template: str) -> re.Pattern[str]:
    # every route under a check id has one level per method, so a check id may match as a path
    regex, _, _ = compile_path(template.replace(":check_id}", ":path}"))
    if template in MOUNTS:
        regex = re.compile("^" + re.escape(template) + "(/.*)?$")
    return regex


_COMPILED: list[tuple[str, re.Pattern[str], str, Level]] = [
    (method, _pattern(template), template, level) for (method, template), level in ROUTES.items()
]


def template_of(method: str, path: str) -> str | None:
    """The template in ROUTES that `method path` falls under (HEAD as GET), or None."""
    method = "GET" if method == "HEAD" else method
    for m, regex, template, _ in _COMPILED:
        if m == method and regex.match(path):
            return template
    return None


def level_for(method: str, path: str) -> Level:
    """The level a request needs (see ROUTES, OPEN_PREFIXES, UNLISTED_*)."""
    if path.startswith(OPEN_PREFIXES):
        return "open"
    method = "GET" if method == "HEAD" else method
    known = False
    for m, regex, _, level in _COMPILED:
        if regex.match(path):
            if m == method:
                return level
            known = True
    if known:
        return "open"  # a route of another method: no handler runs, the router answers 405
    return UNLISTED_READ if method in ("GET", "OPTIONS") else UNLISTED_WRITE
