"""The registry protocol's parsers (probes/oci.py, probes/harbor.py) and the registry check's config:
challenges with quoted commas, scopes with host:port names, error bodies, Retry-After, tokens, image
references, manifest and blob choice, Harbor health bodies, redaction."""

from __future__ import annotations

import email.utils
import json
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, parse_config
from monitor.redact import REDACTED, redact_settings
from probes import oci
from probes.base import Status
from probes.harbor import health_findings

SHA = "sha256:" + "a" * 64


# --- WWW-Authenticate -----------------------------------------------------------------------------


def test_bearer_challenge_with_quoted_commas_in_scope():
    [challenge] = oci.parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:samalba/my-app:pull,push",
    }


def test_several_challenges_in_one_header_and_odd_spacing():
    challenges = oci.parse_challenges(
        'Basic realm="pm, test" , Bearer realm="https://h:5001/token", service=reg,error="insufficient_scope"'
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params == {"realm": "pm, test"}
    assert challenges[1].params == {
        "realm": "https://h:5001/token", "service": "reg", "error": "insufficient_scope"
    }


def test_challenge_escapes_case_and_token68():
    [basic] = oci.parse_challenges(r'BASIC Realm="say \"hi\""')
    assert basic.scheme == "basic" and basic.params == {"realm": 'say "hi"'}
    negotiate, bearer = oci.parse_challenges('Negotiate YWJj==, Bearer realm="r"')
    assert negotiate.scheme == "negotiate" and negotiate.params == {"": "YWJj=="}
    assert bearer.params == {"realm": "r"}
    assert oci.parse_challenges("") == []
    assert [c.scheme for c in oci.parse_challenges("Basic")] == ["basic"]


# --- scopes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name", "actions"),
    [
        ("repository:samalba/my-app:pull,push", "repository", "samalba/my-app", ("pull", "push")),
        ("repository:localhost:5000/app:pull", "repository", "localhost:5000/app", ("pull",)),
        ("repository:reg.example.com:443/a/b:*", "repository", "reg.example.com:443/a/b", ("*",)),
        ("registry:catalog:*", "registry", "catalog", ("*",)),
    ],
)
def test_scope_names_may_contain_host_and_port(text, kind, name, actions):
    scope = oci.parse_scope(text)
    assert (scope.type, scope.name, scope.actions) == (kind, name, actions)
    assert str(scope) == text


def test_bad_scope_and_pull_scope():
    with pytest.raises(ValueError):
        oci.parse_scope("repository")
    assert oci.pull_scope("library/busybox") == "repository:library/busybox:pull"


# --- error bodies and Retry-After ------------------------------------------------------------------


def test_distribution_error_bodies():
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}'
    [error] = oci.parse_errors(body)
    assert (error.code, error.message, error.detail) == ("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "x"})
    assert str(error) == 'MANIFEST_UNKNOWN: manifest unknown ({"Tag":"x"})'
    unavailable = (
        b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable",'
        b'"detail":"health check failed: please see /debug/health"}]}'
    )
    assert oci.describe_errors(oci.parse_errors(unavailable)) == (
        "UNAVAILABLE: service unavailable (health check failed: please see /debug/health)"
    )
    two = b'{"errors":[{"code":"DENIED","message":"no"},{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
    assert oci.describe_errors(oci.parse_errors(two)) == "DENIED: no; TOOMANYREQUESTS: slow down"
    long_detail = json.dumps({"errors": [{"code": "X", "message": "m", "detail": "d" * 500}]}).encode()
    assert len(str(oci.parse_errors(long_detail)[0])) < 200


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b"[]", b'{"errors": "no"}', b'{"errors":[{"x":1}]}'])
def test_bodies_that_are_not_error_bodies(body):
    assert oci.parse_errors(body) == []


def test_token_server_error_shapes():
    assert str(oci.parse_errors(b'{"details":"incorrect username or password"}')[0]) == (
        "TOKEN_ERROR: incorrect username or password"
    )
    assert oci.parse_errors(b'{"error":"invalid_grant","error_description":"bad"}')[0].message == "bad"


def test_retry_after_as_seconds_or_http_date():
    now = 1_800_000_000.0
    assert oci.parse_retry_after("120", lambda: now) == 120.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert oci.parse_retry_after(date, lambda: now) == 90.0
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert oci.parse_retry_after(past, lambda: now) == 0.0
    assert oci.parse_retry_after(None) is None
    assert oci.parse_retry_after("soon") is None
    assert oci.parse_retry_after("-5") is None


# --- tokens ---------------------------------------------------------------------------------------


def test_token_response_fields_and_default_lifetime():
    assert oci.parse_token_response(b'{"token":"t1","expires_in":300}') == ("t1", 300.0)
    assert oci.parse_token_response(b'{"access_token":"t2"}') == ("t2", 60.0)
    assert oci.parse_token_response(b'{"token":"","access_token":"t3","expires_in":0}') == ("t3", 60.0)
    for body, words in [(b"nope", "not JSON"), (b"[]", "JSON object"), (b'{"expires_in":5}', "neither")]:
        with pytest.raises(ValueError, match=words):
            oci.parse_token_response(body)


def test_token_cache_honours_lifetime_and_keys():
    now = [1000.0]
    cache = oci.TokenCache(clock=lambda: now[0])
    key = cache.key("https://auth/token", "reg", ["repository:b:pull", "repository:a:pull"], "robot", "pw")
    assert key == cache.key("https://auth/token", "reg", ["repository:a:pull", "repository:b:pull"], "robot", "pw")
    assert key != cache.key("https://auth/token", "reg", ["repository:a:pull", "repository:b:pull"], "robot", "pw2")
    assert "pw" not in key
    cache.put(key, "tok", 60.0)
    now[0] += 50
    assert cache.get(key) == "tok"
    now[0] += 6  # within the refresh margin of the expiry
    assert cache.get(key) is None
    cache.put(key, "tok2", 60.0)
    cache.drop(key)
    assert cache.get(key) is None


# --- image references -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "reference"),
    [
        ("library/busybox:1.36", "library/busybox", "1.36"),
        ("busybox", "busybox", "latest"),
        (f"team/app@{SHA}", "team/app", SHA),
        (f"team/app:v1@{SHA}", "team/app", SHA),
        ("a.b/c-d__e:V_1.0-rc", "a.b/c-d__e", "V_1.0-rc"),
    ],
)
def test_image_references(text, name, reference):
    ref = oci.parse_image(text)
    assert (ref.name, ref.reference) == (name, reference)


@pytest.mark.parametrize(
    "text", ["Library/busybox", "localhost:5000/app:1", "app:", "app:-bad", "app@sha256:short", "a//b", ""]
)
def test_bad_image_references(text):
    with pytest.raises(ValueError):
        oci.parse_image(text)


# --- manifests ------------------------------------------------------------------------------------


def _desc(size: int, char: str, **extra) -> dict:
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + char * 64,
            "size": size, **extra}


def test_smallest_fitting_layer_else_config():
    manifest = {"config": _desc(500, "c"), "layers": [_desc(3000, "a"), _desc(2000, "b"), _desc(9000, "d")]}
    chosen = oci.choose_blob(manifest, 10_000)
    assert (chosen.size, chosen.role) == (2000, "layer")
    assert oci.choose_blob(manifest, 1999).role == "config"
    assert oci.choose_blob(manifest, 100) is None
    assert oci.choose_blob({"layers": [{"digest": "bogus", "size": 1}]}, 100) is None


def test_index_picks_linux_amd64_else_first():
    arm = _desc(100, "1", platform={"os": "linux", "architecture": "arm64"})
    amd = _desc(100, "2", platform={"os": "linux", "architecture": "amd64"})
    assert oci.choose_platform_manifest({"manifests": [arm, amd]}).digest == amd["digest"]
    assert oci.choose_platform_manifest({"manifests": [arm]}).digest == arm["digest"]
    assert oci.choose_platform_manifest({"manifests": []}) is None


# --- Harbor health bodies -------------------------------------------------------------------------


def _harbor(*components: tuple[str, str, str | None]) -> bytes:
    items = [{"name": n, "status": s, **({"error": e} if e else {})} for n, s, e in components]
    overall = "healthy" if all(s == "healthy" for _, s, _ in components) else "unhealthy"
    return json.dumps({"status": overall, "components": items}).encode()


def test_harbor_healthy_and_critical_vs_other_components():
    summary, findings = health_findings(200, _harbor(("core", "healthy", None), ("trivy", "healthy", None)))
    assert summary == {"status": "healthy", "components": {"core": "healthy", "trivy": "healthy"}}
    assert findings == []
    body = _harbor(
        ("core", "healthy", None),
        ("database", "unhealthy", 'failed to run SQL "SELECT 1": dial tcp: connection refused'),
        ("trivy", "unhealthy", "timeout"),
    )
    summary, findings = health_findings(200, body)
    assert findings[0] == (Status.DOWN, 'Harbor database unhealthy: failed to run SQL "SELECT 1": dial tcp: '
                                        "connection refused")
    assert findings[1] == (Status.DEGRADED, "Harbor trivy unhealthy: timeout")
    assert summary["components"]["trivy"] == "unhealthy: timeout"


def test_harbor_bodies_that_are_not_health():
    assert health_findings(502, b"bad gateway")[1] == [(Status.DOWN, "Harbor health: HTTP 502")]
    assert health_findings(200, b"<html>")[1][0][0] == Status.DOWN
    _, findings = health_findings(200, b'{"status":"unhealthy","components":[]}')
    assert findings == [(Status.DEGRADED, "Harbor reports unhealthy with every component healthy")]


# --- the check's config ---------------------------------------------------------------------------

ISSUE_EXAMPLE = """
checks:
  - name: prod
    component: registries
    kind: registry
    url: https://registry.prod.example.com
    auth: {username: robot, password: "${REGISTRY_PASSWORD}"}
    images: [library/busybox:1.36]
    pull_blob: true
    flavor: harbor
"""


def test_issue_example_loads_and_redacts_the_password():
    config = parse_config(ISSUE_EXAMPLE, env={"REGISTRY_PASSWORD": "hunter2-secret"})
    [check] = config.checks
    assert check.kind == "registry" and check.auth.password == "hunter2-secret"
    assert [i.image for i in check.images] == ["library/busybox:1.36"]
    assert check.max_blob_bytes == 50 * 1024 * 1024
    shown = redact_settings(check, config.secret_values)
    assert shown["auth"] == {"username": REDACTED, "password": REDACTED}
    assert "hunter2-secret" not in json.dumps(shown)


def test_config_errors_name_the_image_and_the_url():
    text = """
checks:
  - {name: r, component: c, kind: registry, url: "ftp://x", images: ["Bad/Name", {image: ok, digest: "sha256:12"}]}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    joined = "\n".join(info.value.errors)
    assert "url" in joined and "ftp://x" in joined
    assert "images[0]" in joined and "Bad/Name" in joined
    assert "images[1]" in joined and "sha256:12" in joined
    pinned = f"""
checks:
  - {{name: r, component: c, kind: registry, url: "http://h", images: [{{image: a, digest: "{SHA}"}}]}}
"""
    assert parse_config(pinned).checks[0].images[0].digest == SHA


def test_example_config_validates():
    path = Path(__file__).resolve().parents[2] / "examples" / "registries.yaml"
    config = load_config(path, env={"REGISTRY_PASSWORD": "pw-dev-1", "HARBOR_ROBOT_SECRET": "pw-prod-1"})
    assert {c.kind for c in config.checks} == {"registry"}
    assert [c.flavor for c in config.checks] == ["harbor", "distribution", "distribution"]
