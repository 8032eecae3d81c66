"""The flow probe against a local PaaS-like API under uvicorn: login → token → protected calls,
the failing step named in the reason, OAuth2 client credentials, cookies and redirects, typed
JSON bodies, slow steps, variables checked when the config loads, secrets redacted."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from monitor.redact import REDACTED, redact_settings
from probes import flow
from probes.base import ProbeContext, Status
from tests.peers import free_port
from tests.services.paas_api import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER

Api = Any  # conftest's type


def login_step(api: Api, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "name": "login",
        "request": {"method": "post", "url": f"{api.url}/api/login", "json": {"user": USER, "password": password}},
        "expect": {"status": [200]},
        "capture": {"token": {"json": "access_token"}, "request_id": {"header": "X-Request-Id"}},
        **extra,
    }


def app_steps(api: Api) -> list[dict[str, Any]]:
    bearer = {"Authorization": "Bearer {{ token }}"}
    return [
        {
            "name": "list-apps",
            "request": {"url": f"{api.url}/api/apps", "headers": bearer},
            "expect": {"status": [200], "json": [{"path": "length(items) > `0`", "equals": True}]},
            "capture": {"app_id": {"json": "items[0].id"}},
        },
        {
            "name": "app-detail",
            "request": {"url": f"{api.url}/api/apps/{{{{ app_id }}}}", "headers": bearer},
            "expect": {"json": [{"path": "name", "equals": "web"}]},
        },
    ]


def check(steps: list[dict[str, Any]], **settings: Any) -> flow.Check:
    return flow.Check(name="paas-flow", component="paas", steps=steps, **settings)


async def test_login_token_protected_calls(api: Api, ctx: ProbeContext) -> None:
    result = await flow.probe(check([login_step(api), *app_steps(api)]), ctx)
    assert result.status is Status.UP, result.reason
    assert result.reason == "3 steps ok"
    assert [s["name"] for s in result.details["steps"]] == ["login", "list-apps", "app-detail"]
    assert all(s["status_code"] == 200 and s["result"] == "up" for s in result.details["steps"])
    assert set(result.details["phases"]) == {"login", "list-apps", "app-detail"}
    assert all(0 < seconds < 5 for seconds in result.details["phases"].values())
    paths = [(seen["path"], seen["authorization"]) for seen in api.knobs.seen]
    token = paths[1][1]
    assert paths == [("/api/login", None), ("/api/apps", token), ("/api/apps/7", token)]
    assert token.startswith("Bearer tok-") and token.removeprefix("Bearer ") in api.knobs.tokens


async def test_failing_middle_step_is_named_and_ends_the_run(api: Api, ctx: ProbeContext) -> None:
    api.knobs.broken.add("/api/apps")
    result = await flow.probe(check([login_step(api), *app_steps(api)]), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "step list-apps: HTTP 500 (expected 200)"
    assert [s["name"] for s in result.details["steps"]] == ["login", "list-apps"]
    assert result.details["steps"][1]["result"] == "HTTP 500 (expected 200)"
    assert "app-detail" not in result.details["phases"]
    assert [seen["path"] for seen in api.knobs.seen] == ["/api/login", "/api/apps"]


async def test_wrong_password_fails_the_login_step(api: Api, ctx: ProbeContext) -> None:
    result = await flow.probe(check([login_step(api, password="wrong"), *app_steps(api)]), ctx)
    assert result.reason == "step login: HTTP 401 (expected 200)"


async def test_capture_that_finds_nothing_fails_its_step(api: Api, ctx: ProbeContext) -> None:
    step = login_step(api)
    step["capture"] = {"token": {"json": "data.token"}}
    result = await flow.probe(check([step]), ctx)
    assert result.reason == "step login: capture token: JSONPath `data.token` found nothing"
    step["capture"] = {"token": {"header": "X-Token"}}
    assert (await flow.probe(check([step]), ctx)).reason == "step login: capture token: header X-Token missing"


async def test_refused_connection_names_the_step(ctx: ProbeContext) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = await flow.probe(check([{"name": "ping", "request": {"url": f"{url}/x"}}]), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "step ping: connection refused"


@pytest.mark.parametrize("client_auth", ["basic", "body"])
async def test_oauth2_client_credentials(api: Api, ctx: ProbeContext, client_auth: str) -> None:
    auth = {"kind": "oauth2_client_credentials", "token_url": f"{api.url}/oauth/token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": "apps:read", "client_auth": client_auth}
    steps = [{"name": "list-apps", "request": {"url": f"{api.url}/api/apps"}, "expect": {"status": [200]}}]
    result = await flow.probe(check(steps, auth=auth), ctx)
    assert result.status is Status.UP, result.reason
    assert set(result.details["phases"]) == {"auth", "list-apps"}
    token_call, apps_call = api.knobs.seen
    assert token_call["path"] == "/oauth/token"
    assert (token_call["authorization"] or "").startswith("Basic ") == (client_auth == "basic")
    assert apps_call["authorization"].startswith("Bearer oauth-")


async def test_oauth2_rejected_client_is_an_auth_failure(api: Api, ctx: ProbeContext) -> None:
    auth = {"kind": "oauth2_client_credentials", "token_url": f"{api.url}/oauth/token", "client_id": CLIENT_ID,
            "client_secret": "not-it"}
    steps = [{"name": "list-apps", "request": {"url": f"{api.url}/api/apps"}}]
    result = await flow.probe(check(steps, auth=auth), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "auth: token request: HTTP 401: invalid_client (Client authentication failed)"
    assert [seen["path"] for seen in api.knobs.seen] == ["/oauth/token"]


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ({"kind": "bearer", "token": "static-token"}, "Bearer static-token"),
        ({"kind": "basic", "username": "robot", "password": "pw"}, "Basic cm9ib3Q6cHc="),
    ],
)
async def test_static_auth_goes_on_steps_that_want_it(api: Api, ctx: ProbeContext, auth: dict, header: str) -> None:
    steps = [
        {"name": "one", "request": {"url": f"{api.url}/api/apps"}, "expect": {"status": [401]}},
        {"name": "two", "request": {"url": f"{api.url}/api/apps"}, "expect": {"status": [401]}, "auth": False},
        {"name": "three", "request": {"url": f"{api.url}/api/apps", "headers": {"authorization": "Bearer own"}},
         "expect": {"status": [401]}},
    ]
    result = await flow.probe(check(steps, auth=auth), ctx)
    assert result.status is Status.UP, result.reason
    assert [seen["authorization"] for seen in api.knobs.seen] == [header, None, "Bearer own"]


async def test_json_body_keeps_captured_types(api: Api, ctx: ProbeContext) -> None:
    steps = [
        login_step(api),
        app_steps(api)[0],
        {
            "name": "echo",
            "request": {"method": "POST", "url": f"{api.url}/api/apps/{{{{app_id}}}}/echo",
                        "json": {"id": "{{ app_id }}", "label": "app {{ app_id }}", "req": "{{ request_id }}"}},
            "expect": {"json": [{"path": "received.id", "equals": 7}, {"path": "received.label", "equals": "app 7"},
                                {"path": "received.req", "regex": "^req-[0-9a-f]{8}$"}]},
        },
    ]
    result = await flow.probe(check(steps), ctx)
    assert result.status is Status.UP, result.reason


async def test_captured_value_cannot_add_headers(api: Api, ctx: ProbeContext) -> None:
    steps = [
        {"name": "echo", "request": {"method": "POST", "url": f"{api.url}/api/apps/7/echo",
                                     "json": {"label": "a\r\nX-Injected: yes"}},
         "capture": {"label": {"json": "received.label"}}},
        {"name": "next", "request": {"url": f"{api.url}/api/apps", "headers": {"X-Label": "{{ label }}"}}},
    ]
    result = await flow.probe(check(steps), ctx)
    assert result.reason == "step next: header X-Label: the value with its variables filled in is not single-line text"
    assert [seen["path"] for seen in api.knobs.seen] == ["/api/apps/7/echo"]


async def test_cookies_and_redirects_within_a_run(api: Api, ctx: ProbeContext) -> None:
    steps = [
        {"name": "session", "request": {"method": "POST", "url": f"{api.url}/session", "follow_redirects": True},
         "expect": {"status": [200]}, "capture": {"csrf": {"regex": "content=(\\w+)"}}},
        {"name": "me", "request": {"url": f"{api.url}/me", "headers": {"X-CSRF": "{{ csrf }}"}},
         "expect": {"json": [{"path": "user", "equals": USER}]}},
    ]
    result = await flow.probe(check(steps), ctx)
    assert result.status is Status.UP, result.reason
    assert [(s["path"], s["cookie"]) for s in api.knobs.seen] == [
        ("/session", None), ("/me", "sid=s-123"), ("/me", "sid=s-123")]
    # Nothing is kept from one run to the next: without the session step, /me refuses.
    me_alone = {"name": "me", "request": {"url": f"{api.url}/me"}}
    again = await flow.probe(check([me_alone]), ctx)
    assert again.reason == "step me: HTTP 401 (expected 2xx)"

    no_follow = [{**steps[0], "request": {"method": "POST", "url": f"{api.url}/session"}}]
    assert (await flow.probe(check(no_follow), ctx)).reason == "step session: HTTP 303 (expected 200)"


async def test_slow_step_is_degraded_and_the_flow_goes_on(api: Api, ctx: ProbeContext) -> None:
    api.knobs.delay["/api/apps"] = 0.3
    steps = [login_step(api), *app_steps(api)]
    steps[1]["expect"]["max_latency"] = "100ms"
    result = await flow.probe(check(steps), ctx)
    assert result.status is Status.DEGRADED
    assert result.reason.startswith("step list-apps slow: ") and result.reason.endswith("(max_latency 100ms)")
    assert len(result.details["steps"]) == 3
    assert result.details["phases"]["list-apps"] >= 0.3


async def test_variable_undefined_at_run_time_names_step_and_variable(api: Api, ctx: ProbeContext) -> None:
    # Load-time validation makes this unreachable from a config; built without it to show the reason.
    step = flow.Step(name="list-apps", request=flow.StepRequest(url=f"{api.url}/api/apps/{{{{ app_id }}}}"))
    cfg = flow.Check.model_construct(name="f", component="c", kind="flow", auth=None, steps=[step],
                                     tls=flow.TlsSettings(), max_body_bytes=1024, timeout=5.0)
    result = await flow.probe(cfg, ctx)
    assert result.reason == "step list-apps: variable 'app_id' is undefined"
    assert api.knobs.seen == []


FLOW_CONFIG = """
checks:
  - name: paas-flow
    component: paas
    kind: flow
    steps:
      - name: login
        request: {method: POST, url: "https://paas.example/api/login", json: {user: robot, password: "${PW}"}}
        capture: {token: {json: access_token}}
      - name: list-apps
        request: {url: "https://paas.example/api/apps", headers: {Authorization: "Bearer {{ tokn }}"}}
        capture: {app_id: {json: "items[0].id"}}
      - name: list-apps
        request: {url: "https://paas.example/api/apps/{{ app_id }}/{{ later }}"}
      - name: last
        request: {url: "https://paas.example/x"}
        capture: {later: {header: X-Later}}
"""


def test_uncaptured_variables_are_config_errors_with_their_place() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(FLOW_CONFIG, "cfg.yaml", {"PW": "robot-pw-1"})
    (line,) = info.value.errors
    assert line.startswith("checks[0] (paas/paas-flow): ")
    problems = line.removeprefix("checks[0] (paas/paas-flow): ").split("; ")
    assert problems == [
        "steps[1] (list-apps).request.headers.Authorization: variable 'tokn' is not captured by an earlier step",
        "steps[2] (list-apps).name: another step has this name",
        "steps[2] (list-apps).request.url: variable 'later' is not captured by an earlier step",
    ]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"name": "a", "request": {"url": "http://x/", "json": {}, "body": "x"}}, "at most one of json, body or form"),
        ({"name": "a", "request": {"url": "http://x/"}, "capture": {"v": {"json": "a", "header": "b"}}},
         "exactly one of json, header or regex"),
        ({"name": "a", "request": {"url": "ftp://x/"}}, "must start with http://, https:// or a {{ variable }}"),
        ({"name": "a", "request": {"url": "http://x/"}, "capture": {"v": {"json": "a["}}},
         "not a valid JMESPath expression"),
        ({"name": "auth", "request": {"url": "http://x/"}}, "'auth' is reserved"),
        ({"name": "a", "request": {"url": "http://x/", "headers": {"X": "a\nb"}}}, "must be single-line text"),
    ],
)
def test_step_settings_are_validated(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("{", r"\{")):
        check([step])


def test_secrets_are_redacted() -> None:
    config = parse_config(
        """
checks:
  - name: paas-flow
    component: paas
    kind: flow
    auth: {kind: oauth2_client_credentials, token_url: "https://sso.example/token", client_id: monitor,
           client_secret: "${SECRET}"}
    steps:
      - name: login
        request: {method: POST, url: "https://paas.example/api/login", json: {user: robot, pw: literal-pw},
                  headers: {X-Api-Key: literal-key}}
        capture: {token: {json: access_token}}
      - name: form
        request: {method: POST, url: "https://paas.example/form", form: {code: literal-code}}
""",
        env={"SECRET": "client-secret-value"},
    )
    shown = redact_settings(config.checks[0], config.secret_values)
    assert shown["auth"] == {"kind": "oauth2_client_credentials", "token_url": "https://sso.example/token",
                             "client_id": "monitor", "client_secret": REDACTED, "scope": None,
                             "client_auth": "basic", "params": {}}
    login, form = shown["steps"]
    assert login["request"]["url"] == "https://paas.example/api/login"
    assert login["request"]["json"] == {"user": REDACTED, "pw": REDACTED}
    assert login["request"]["headers"] == {"X-Api-Key": REDACTED}
    assert form["request"]["form"] == {"code": REDACTED}
    text = repr(shown)
    assert "literal" not in text and "client-secret-value" not in text
