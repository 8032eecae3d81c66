"""Sign-in as a user sees it, against the real service: pages send people to /login and back,
APIs answer 401 with WWW-Authenticate, the session cookie's attributes, CSRF on cookie writes
(not on bearer tokens), sign-out, roles on writes, who acknowledged and silenced, the failure
limit (429 + Retry-After) and its counter, and the audit trail of all of it."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from argon2 import PasswordHasher

from monitor.auth.sessions import SESSION_ABSOLUTE, SESSION_IDLE, SessionCodec
from monitor.config import ConfigError, parse_config
from tests.auth.conftest import KEY, LEGACY_TOKEN, TOKENS, auth_block, password
from tests.targets import wait_for

SILENCE = {"matchers": {"component": "paas"}, "duration": "1h", "comment": "deploy", "created_by": "someone else"}


def audit_entry(service, **match) -> dict:
    """The newest audit entry matching every field given (waited for: it is stored just after the answer)."""
    def find():
        return next((e for e in service.audit() if all(e[k] == v for k, v in match.items())), None)
    return wait_for(find, what=f"an audit entry {match}")


def test_pages_send_people_to_the_login_form_and_back(auth_service):
    with auth_service.client() as client:
        answer = client.get("/alerts?refresh=1")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/alerts%3Frefresh%3D1"
        form = client.get("/login?next=/alerts")
        assert form.status_code == 200 and 'name="password"' in form.text
        assert client.get("/status").status_code == 200  # the public page stays open (anonymous: status)
        assert client.get("/healthz").status_code == 200
        signed = client.post("/login", data={"name": "vic", "password": password("vic"), "next": "/alerts"})
        assert signed.status_code == 303 and signed.headers["location"] == "/alerts"
        page = client.get("/alerts")
        assert page.status_code == 200 and "vic" in page.text and "Sign out" in page.text


def test_apis_answer_401_with_www_authenticate(auth_service):
    with auth_service.client() as client:
        answer = client.get("/api/v1/checks")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/api/v1/checks", headers={"Authorization": "Bearer not-a-token-at-all"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "the bearer token is not valid"


def test_the_session_cookie(auth_service):
    with auth_service.client() as client:
        answer = client.post("/login", data={"name": "vic", "password": password("vic")})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("pm_session=")
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= parts and "samesite=lax" in cookie.lower()
    assert "secure" not in parts  # plain HTTP, no https public_url (tests/auth/test_tls.py: Secure over HTTPS)
    assert password("vic") not in cookie


def test_unsafe_next_stays_on_this_site(auth_service):
    with auth_service.client() as client:
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            answer = client.post("/login", data={"name": "vic", "password": password("vic"), "next": evil})
            assert answer.headers["location"] == "/"


def test_cookie_writes_need_the_csrf_token_bearer_writes_do_not(auth_service):
    client = auth_service.login("olga")
    csrf = client.headers.pop("X-CSRF-Token")
    refused = client.post("/api/v1/silences", json=SILENCE)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    made = client.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert made.json()["created_by"] == "olga"  # the signed-in user, not the name typed in
    with auth_service.token_client("operator") as bot:
        by_token = bot.post("/api/v1/silences", json=SILENCE)
    assert by_token.status_code == 201 and by_token.json()["created_by"] == "operator-bot"
    entry = audit_entry(auth_service, actor="olga", status=403)
    assert entry["outcome"] == "refused" and entry["credential"] == "session"


def test_roles_on_writes(auth_service):
    viewer = auth_service.login("vic")
    answer = viewer.post("/api/v1/silences", json=SILENCE)
    assert answer.status_code == 403 and "operator" in answer.json()["detail"]
    assert viewer.get("/api/v1/audit").status_code == 403
    assert viewer.get("/audit").status_code == 403
    admin = auth_service.login("alice")
    assert admin.get("/audit").status_code == 200
    assert admin.get("/api/v1/audit").status_code == 200


def test_who_acknowledged_is_the_signed_in_user(auth_service):
    client = auth_service.login("olga")
    answer = client.post(f"/api/v1/alerts/{KEY}/ack", json={"by": "typed name"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == "olga"
    firing = {a["key"]: a for a in client.get("/api/v1/alerts").json()["firing"]}
    assert firing[KEY]["acknowledged_by"] == "olga"
    entry = audit_entry(auth_service, actor="olga", action="POST /api/v1/alerts/{key:path}/ack")
    assert entry == {**entry, "role": "operator", "credential": "session", "target": f"/api/v1/alerts/{KEY}/ack",
                     "address": "127.0.0.1", "status": 200, "outcome": "success", "detail": "acknowledged by olga"}
    [incident] = [i for i in client.get("/api/v1/incidents", params={"alerts": "true"}).json()
                  if i["component"] == "paas"]
    acked = [a for a in incident["alerts"] if a["type"] == "acknowledged"]
    assert [(a["subject"], a["by"]) for a in acked] == [("paas/web", "olga")]


def test_sign_out(auth_service):
    client = auth_service.login("vic")
    csrf = client.headers.pop("X-CSRF-Token")
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/api/v1/checks").status_code == 200  # still signed in
    answer = client.post("/logout", data={"csrf": csrf})
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["set-cookie"]
    assert client.get("/api/v1/checks").status_code == 401
    audit_entry(auth_service, actor="vic", action="POST /logout")


def test_a_forged_or_old_session_is_nobody(auth_service):
    with auth_service.client(cookies={"pm_session": "eyJ1IjoiYWxpY2UiLCJyIjoiYWRtaW4ifQ.forged.sig"}) as client:
        assert client.get("/api/v1/checks").status_code == 401
    codec = SessionCodec("k" * 40)
    value, _ = codec.new(name="alice", role="admin", source="local", now=1_000_000.0)
    assert codec.read(value, now=1_000_000.0 + 60) is not None
    assert SessionCodec("other key " * 4).read(value) is None


def test_session_lifetimes():
    codec = SessionCodec("k" * 40)
    value, session = codec.new(name="alice", role="admin", source="local")
    assert codec.read(value) is not None
    assert codec.read(value, now=session.signed_at + SESSION_IDLE.total_seconds() - 5) is not None
    assert codec.read(value, now=session.signed_at + SESSION_IDLE.total_seconds() + 5) is None  # idle
    # absolute: however fresh the signature, a session ends SESSION_ABSOLUTE after its login
    assert codec.read(value, now=session.issued + SESSION_ABSOLUTE.total_seconds() + 1) is None
    assert SESSION_IDLE < SESSION_ABSOLUTE


def test_the_old_api_token_and_named_tokens(auth_service):
    with auth_service.client(headers={"Authorization": f"Bearer {LEGACY_TOKEN}"}) as client:
        answer = client.post("/api/v1/silences", json=SILENCE)
    assert answer.status_code == 201 and answer.json()["created_by"] == "someone else"  # one shared token: typed
    entry = audit_entry(auth_service, credential="api_token")
    assert entry["role"] == "admin" and entry["actor"] == "api_token"
    with auth_service.token_client("viewer") as client:
        assert client.get("/metrics").status_code == 200


def test_failed_logins_are_limited_counted_and_never_logged(start_service, caplog):
    service = start_service()
    caplog.set_level(logging.DEBUG)
    with service.client() as client:
        for _ in range(5):
            assert client.post("/login", data={"name": "alice", "password": "guess-123"}).status_code == 401
        unknown = client.post("/login", data={"name": "nobody", "password": "guess-123"})
        assert unknown.status_code == 401 and "Wrong name or password." in unknown.text  # the same words
        limited = client.post("/login", data={"name": "alice", "password": password("alice")})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 60
        assert client.post("/login", data={"name": "vic", "password": password("vic")}).status_code == 303
        for i in range(20):  # per address: 20 failures within the window, whatever the account
            client.post("/login", data={"name": f"made-up-{i}", "password": "x"})
        assert client.post("/login", data={"name": "olga", "password": password("olga")}).status_code == 429
        metrics = client.get("/metrics").text
    counts = {line.split("}")[0].split('"')[1]: float(line.split()[-1])
              for line in metrics.splitlines() if line.startswith("platform_monitor_auth_failures_total{")}
    assert counts["bad_password"] == 5 and counts["unknown_user"] >= 14 and counts["rate_limited"] >= 2
    assert not any(secret in caplog.text for secret in ("guess-123", password("alice"), TOKENS["admin"]))
    entry = audit_entry(service, actor="alice", action="POST /login", status=401)
    assert entry["outcome"] == "refused" and entry["detail"] == "wrong name or password"


def test_token_guessing_is_limited_per_address(start_service):
    service = start_service()
    with service.client() as client:
        for i in range(20):
            assert client.get("/api/v1/checks", headers={"Authorization": f"Bearer guess-{i}"}).status_code == 401
        limited = client.get("/api/v1/checks", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
        assert limited.status_code == 429 and "retry-after" in limited.headers


def test_anonymous_none_and_viewer_and_metrics_token(start_service):
    closed = start_service(auth=auth_block(anonymous="none", metrics="token"))
    with closed.client() as client:
        assert client.get("/status").headers["location"] == "/login?next=/status"
        assert client.get("/status/data").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code in (200, 503)
        assert client.get("/login").status_code == 200 and client.get("/static/css/monitor.css").status_code == 200
    with closed.token_client("viewer") as client:
        assert client.get("/metrics").status_code == 200
    open_reads = start_service(auth=auth_block(anonymous="viewer"))
    with open_reads.client() as client:
        assert client.get("/api/v1/checks").status_code == 200 and client.get("/").status_code == 200
        assert client.post("/api/v1/silences", json=SILENCE).status_code == 401
        assert client.get("/api/v1/audit").status_code == 401


def test_a_removed_account_loses_its_session(start_service):
    service = start_service()
    client = service.login("vic")
    assert client.get("/api/v1/checks").status_code == 200
    text = service.path.read_text().replace("{name: vic,", "{name: victor,")
    service.path.write_text(text)
    with service.token_client("admin") as admin:
        answer = admin.post("/api/v1/config/reload")
    assert answer.status_code == 200 and answer.json()["outcome"] == "success", answer.text
    assert client.get("/api/v1/checks").status_code == 401


def test_without_an_auth_block_everything_reads_open(start_service):
    service = start_service(auth="")
    with service.client() as client:
        assert client.get("/").status_code == 200 and client.get("/api/v1/alerts").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.post("/api/v1/silences", json=SILENCE).status_code == 401
        assert client.get("/api/v1/audit").status_code == 401  # the audit log: the admin token
        assert "Sign in" not in client.get("/").text
    with service.client(headers={"Authorization": f"Bearer {LEGACY_TOKEN}"}) as client:
        assert client.post("/api/v1/silences", json=SILENCE).status_code == 201
    assert audit_entry(service, credential="api_token")["action"] == "POST /api/v1/silences"


def test_config_mistakes_are_refused_with_their_place():
    base = "auth:\n  users: [{name: a, password_hash: 'plain-text', role: admin}]\n"
    with pytest.raises(ConfigError, match=r"auth\.users\[0\]\.password_hash: not an argon2id hash"):
        parse_config(base)
    with pytest.raises(ConfigError, match="either token or token_sha256") as refused:
        parse_config("auth:\n  tokens: [{name: t, token: 0123456789abcdef0123, token_sha256: "
                     + "a" * 64 + ", role: viewer}]\n")
    assert "0123456789abcdef0123" not in str(refused.value)
    with pytest.raises(ConfigError, match="role"):
        parse_config("auth:\n  tokens: [{name: t, token: 0123456789abcdef0123, role: root}]\n")
    with pytest.raises(ConfigError, match="anonymous"):
        parse_config("auth: {anonymous: everyone}\n")
    with pytest.raises(ConfigError, match="issuer must be an https"):
        parse_config("auth: {oidc: {issuer: 'http://sso.example.com', client_id: pm, role_map: {sre: admin}}}\n")
    config = parse_config("auth:\n  tokens: [{name: ci, token_sha256: " + "AB" * 32 + ", role: operator}]\n")
    assert config.auth.anonymous == "status" and config.auth.tokens[0].token_sha256 == "ab" * 32


def test_sha256_tokens_work(start_service):
    import hashlib

    secret = "ci-token-value-0123456789"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    service = start_service(auth=auth_block().replace("  tokens: [", f"  tokens: [{{name: ci, token_sha256: {digest}, "
                                                                     "role: operator}, "))
    with service.client(headers={"Authorization": f"Bearer {secret}"}) as client:
        assert client.post("/api/v1/silences", json=SILENCE).json()["created_by"] == "ci"


def test_hash_password_prints_an_argon2id_hash():
    done = subprocess.run([sys.executable, "-m", "monitor", "hash-password"], input="correct horse\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert printed.startswith("$argon2id$") and "correct horse" not in done.stdout + done.stderr
    assert PasswordHasher().verify(printed, "correct horse")


def test_a_hostile_name_is_refused_and_recorded_readably(auth_service):
    with auth_service.client() as client:
        answer = client.post("/login", content=b"name=a%00b%ED%A0%80&password=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 401
    entry = audit_entry(auth_service, action="POST /login", status=401, detail="wrong name or password")
    assert "\x00" not in entry["actor"] and entry["actor"].startswith("a\ufffdb")


def test_a_public_only_instance_serves_its_status_page_to_everyone(start_service):
    service = start_service(auth=auth_block(anonymous="none") + "ui: {public_only: true}\n")
    with service.client() as client:
        assert client.get("/").headers["location"] == "/status"
        assert client.get("/status").status_code == 200
        assert client.get("/api/v1/checks").status_code == 404
        assert client.get("/login").status_code == 404


def test_a_refused_reload_says_why(start_service):
    service = start_service()
    good = service.path.read_text()
    service.path.write_text(good + "bogus_key: 1\n")
    try:
        with service.token_client("admin") as admin:
            answer = admin.post("/api/v1/config/reload")
        assert answer.status_code == 200 and answer.json()["outcome"] == "failure"
        assert "bogus_key" in answer.json()["reason"]
        with service.token_client("operator") as operator:
            assert operator.post("/api/v1/config/reload").status_code == 403
    finally:
        service.path.write_text(good)
