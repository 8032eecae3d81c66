"""Every route by every role, generated from the app itself: the OpenAPI document's operations and
the routes it leaves out (pages, assets, login). A route with no decision in monitor.auth.policy
fails here, so none can ship without one; each decision is then tried with nobody signed in and
with a token of each role against the real service."""

from __future__ import annotations

import re

import pytest

from monitor.api import create_app
from monitor.auth import policy
from monitor.auth.gate import allowed
from monitor.auth.roles import ANONYMOUS, RANK, Principal
from monitor.config import parse_config
from tests.auth.conftest import LEGACY_TOKEN, ROLES, TOKENS

SAMPLES = {"check_id": "paas/web", "key": "check:paas/web", "silence_id": "no-such-silence",
           "window_id": "999999", "name": "paas", "token": "no-such-token", "signal": "start", "lang": "zh-CN"}
MOUNT_SAMPLES = {"/static": "/static/css/monitor.css", "/docs-assets": "/docs-assets/swagger-ui.css"}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def _plain(template: str) -> str:
    """`/checks/{check_id:check_id}` → `/checks/{check_id}` (the OpenAPI document's spelling)."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", template)


POLICY = {(method, _plain(template)): level for (method, template), level in policy.ROUTES.items()}


def _walk(routes, prefix: str = ""):
    """(methods, path) of every route, through included routers (FastAPI 0.16x wraps them)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _walk(original.routes, prefix + route.include_context.prefix)
        elif getattr(route, "methods", None):
            yield route.methods, prefix + route.path, getattr(route, "include_in_schema", True)
        elif hasattr(route, "path"):  # a mount: its GETs
            yield {"GET"}, prefix + route.path, False


def app_routes() -> set[tuple[str, str]]:
    """Every (method, plain template) the app serves: the OpenAPI document's operations, then the
    routes left out of it."""
    app = create_app(parse_config("{}"))
    found = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    for methods, path, _ in _walk(app.router.routes):
        found |= {(m, _plain(path)) for m in methods if m != "HEAD"}
    return found


ROUTES = sorted(app_routes())
GUARDED = [(m, t) for m, t in ROUTES if not t.startswith(policy.OPEN_PREFIXES)]
"""The routes tried by role: those under OPEN_PREFIXES check their own (per-agent) tokens."""


def test_the_openapi_document_is_covered():
    in_schema = {(m.upper(), p) for p, ops in create_app(parse_config("{}")).openapi()["paths"].items() for m in ops}
    assert in_schema and in_schema <= set(ROUTES)


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_every_route_has_a_decision(method, template):
    assert (method, template) in POLICY or template.startswith(policy.OPEN_PREFIXES), (
        f"{method} {template} has no decision: add it to monitor.auth.policy.ROUTES")


def sample_path(template: str) -> str:
    if template in MOUNT_SAMPLES:
        return MOUNT_SAMPLES[template]
    return _PARAM.sub(lambda m: SAMPLES[m.group(1)], template)


def expected(level: str, role: str | None) -> bool:
    principal = ANONYMOUS if role is None else Principal(name=f"{role}-bot", role=role, credential="token")
    return allowed(level, principal, anonymous="status", metrics="public")


def refused(answer) -> bool:
    """The gate's refusals: 401 with WWW-Authenticate, 403 naming the role needed, 303 to the
    login form (a route's own 401 or 403, like a wrong password at /login, is not one)."""
    if answer.status_code == 401:
        return "www-authenticate" in answer.headers
    if answer.status_code == 403:
        return "may not do this" in answer.text
    return answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "template"), GUARDED, ids=[f"{m} {t}" for m, t in GUARDED])
def test_route_by_role(auth_service, method, template):
    """Nobody, viewer, operator, admin: allowed exactly when the policy says so (an allowed write
    with an empty body is a 4xx about the body, or the action itself; never 401/403)."""
    level = POLICY[(method, template)]
    path = sample_path(template)
    for role in (None, *ROLES):
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        with auth_service.client(headers=headers) as client:
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(method, path, **body)
        assert refused(answer) != expected(level, role), (
            f"{method} {path} as {role or 'nobody'} (policy: {level}): {answer.status_code} {answer.text[:200]}")
        if refused(answer) and role is not None:
            assert answer.status_code == 403, f"{method} {path} as {role}: a role too low gets 403"


def test_the_old_api_token_is_an_admin_token(auth_service):
    with auth_service.client(headers={"Authorization": f"Bearer {LEGACY_TOKEN}"}) as client:
        assert client.get("/api/v1/audit").status_code == 200
        assert client.post("/api/v1/silences", json={}).status_code == 422  # past the gate: the body is wrong


@pytest.mark.parametrize("anonymous", ["none", "status", "viewer"])
def test_what_nobody_signed_in_reaches(anonymous):
    rank = {"open": 0, "status": 1, "metrics": 0, "viewer": 2, "operator": 3, "admin": 4}
    reach = {"none": 0, "status": 1, "viewer": 2}[anonymous]
    for level in ("open", "status", "viewer", "operator", "admin"):
        assert allowed(level, ANONYMOUS, anonymous=anonymous, metrics="token") == (rank[level] <= reach), level
    assert not allowed("metrics", ANONYMOUS, anonymous=anonymous, metrics="token")
    assert allowed("metrics", ANONYMOUS, anonymous=anonymous, metrics="public")


def test_roles_are_ordered():
    for role in ROLES:
        p = Principal(name="x", role=role, credential="token")
        assert [lvl for lvl in ("viewer", "operator", "admin") if allowed(lvl, p, anonymous="none", metrics="token")] \
            == [lvl for lvl in ("viewer", "operator", "admin") if RANK[lvl] <= RANK[role]]


def test_agent_paths_are_left_to_the_agents_routes():
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert policy.level_for(method, "/api/v1/agent/results") == "open"
    assert policy.level_for("GET", "/api/v1/agents") == "viewer"
    # another method of a known path runs no handler: the router answers 405 (as without auth:)
    assert policy.level_for("POST", "/api/v1/agents") == "open"
    assert policy.level_for("POST", "/api/v1/no-such-route") == "admin"  # unknown writes need admin
