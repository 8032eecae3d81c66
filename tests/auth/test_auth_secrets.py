"""Access control's secrets never leave the config: passwords (right and wrong ones typed at
/login), their argon2id hashes, API tokens (right and guessed), the OIDC client secret and the
session key are searched for, after a run of sign-ins, token calls, single sign-on and writes, in
every /api/v1 answer, /metrics, the pages, every table of the database and the log."""

from __future__ import annotations

import logging
import sqlite3

import httpx

from monitor.api import create_app
from monitor.config import parse_config
from tests.auth.conftest import password, password_hash
from tests.auth.oidc_provider import OidcProvider
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread

TOKEN = "tok-Gr4fanaSecretVal"
GUESS = "guess-N0tATokenVal"
SESSION_SECRET = "sess-" + "K3y" * 12
WRONG_PASSWORD = "wrongpw-Typ0Val"


def test_no_secret_of_access_control_is_ever_shown_stored_or_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    provider = OidcProvider(client_secret="oidc-Cl1entSecretVal").start()
    target = HttpTarget()
    port = free_port()
    db = tmp_path / "pm.db"
    text = f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 300ms, timeout: 300ms}}
checks: [{{name: web, component: paas, kind: http, url: "{target.url}/"}}]
auth:
  users: [{{name: alice, password_hash: "{password_hash('alice')}", role: admin}}]
  tokens: [{{name: grafana, token: "${{GRAFANA_TOKEN}}", role: operator}}]
  oidc: {{issuer: "{provider.url}", client_id: {provider.client_id}, client_secret: "${{OIDC_SECRET}}",
          role_map: {{sre: admin}}}}
  session_secret: "${{PM_SESSION_SECRET}}"
"""
    env = {"GRAFANA_TOKEN": TOKEN, "OIDC_SECRET": provider.client_secret, "PM_SESSION_SECRET": SESSION_SECRET}
    svc = ServiceThread(create_app(parse_config(text, env=env)), port).start()
    provider.redirect_uris.add(svc.url + "/login/oidc/callback")
    seen: list[str] = []
    try:
        with httpx.Client(base_url=svc.url, timeout=10) as client:
            seen.append(client.post("/login", data={"name": "alice", "password": WRONG_PASSWORD}).text)
            seen.append(client.post("/login", data={"name": "alice", "password": password("alice")}).text)
            seen.append(client.get("/api/v1/checks", headers={"Authorization": f"Bearer {GUESS}"}).text)
            for path in ("/", "/alerts", "/audit", "/login", "/status"):
                seen.append(client.get(path).text)
        with httpx.Client(base_url=svc.url, timeout=10) as sso:
            leave = sso.get("/login/oidc")
            back = httpx.get(leave.headers["location"], timeout=10).headers["location"]
            seen.append(sso.get(back.removeprefix(svc.url)).text)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=svc.url, timeout=10, headers=auth) as bot:
            bot.post("/api/v1/silences", json={"matchers": {"component": "x"}, "duration": "1h"})
            for path, ops in bot.get("/openapi.json").json()["paths"].items():
                if "get" in ops and "{" not in path:
                    seen.append(bot.get(path).text)
            seen.append(bot.get("/metrics").text)
    finally:
        svc.stop()
        provider.stop()
        target.close()
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            seen.extend(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert "alice" in everything and "sara" in everything and "audit_log" in tables  # it searched what it must
    for secret in (password("alice"), WRONG_PASSWORD, password_hash("alice"), TOKEN, GUESS,
                   provider.client_secret, SESSION_SECRET):
        assert secret not in everything, f"{secret[:12]}… leaked"
