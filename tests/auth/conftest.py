"""A service with access control on, over a real loopback server: three local accounts (one per
role), a named token per role, the old `server.api_token`, and one HTTP check so an alert fires.
`AuthService.login(name)` gives an httpx client signed in through the real /login form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import pytest

from monitor.api import create_app
from monitor.auth.credentials import hash_password
from monitor.config import load_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for

ROLES = ("viewer", "operator", "admin")
USERS = {"vic": "viewer", "olga": "operator", "alice": "admin"}
TOKENS = {role: f"{role}-token-0123456789abcdef" for role in ROLES}
LEGACY_TOKEN = "legacy-api-token-5f2c9e77"
KEY = "check:paas/web"


def password(name: str) -> str:
    return f"{name} has a long password 9!"


@cache
def password_hash(name: str) -> str:
    return hash_password(password(name))  # argon2id costs ~50 ms: once per account per run


@dataclass
class AuthService:
    svc: ServiceThread
    path: Path

    @property
    def url(self) -> str:
        return self.svc.url

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kw)

    def token_client(self, role: str) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {TOKENS[role]}"})

    def login(self, name: str) -> httpx.Client:
        """A client signed in as `name` through the form, with its CSRF token in X-CSRF-Token."""
        client = self.client()
        answer = client.post("/login", data={"name": name, "password": password(name)})
        assert answer.status_code == 303, answer.text
        page = client.get("/")
        assert page.status_code == 200
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert csrf is not None
        client.headers["X-CSRF-Token"] = csrf.group(1)
        return client

    def audit(self) -> list[dict]:
        with self.client(headers={"Authorization": f"Bearer {LEGACY_TOKEN}"}) as client:  # admin, with or without auth:
            answer = client.get("/api/v1/audit", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        return answer.json()


def auth_block(*, anonymous: str | None = None, metrics: str | None = None, extra: str = "") -> str:
    users = ", ".join(f'{{name: {n}, password_hash: "{password_hash(n)}", role: {r}}}' for n, r in USERS.items())
    tokens = ", ".join(f'{{name: {r}-bot, token: "{TOKENS[r]}", role: {r}}}' for r in ROLES)
    lines = ["auth:", f"  users: [{users}]", f"  tokens: [{tokens}]"]
    if anonymous:
        lines.append(f"  anonymous: {anonymous}")
    if metrics:
        lines.append(f"  metrics: {metrics}")
    return "\n".join(lines) + "\n" + extra


def config_text(*, port: int, db: Path, target: HttpTarget, auth: str, server: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: {port}, api_token: "{LEGACY_TOKEN}"{server}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 300ms, timeout: 300ms, failure_threshold: 1}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/healthz"}}
{auth}"""


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTarget]:
    t = HttpTarget()
    t.behaviour.status = 503  # the check is down, so an alert fires
    yield t
    t.close()


@pytest.fixture(scope="module")
def start_service(tmp_path_factory, target) -> Iterator[Callable[..., AuthService]]:
    """`start_service(auth=..., server=...)`: a fresh service (own database), stopped after the module."""
    started: list[ServiceThread] = []

    def start(*, auth: str | None = None, server: str = "") -> AuthService:
        tmp = tmp_path_factory.mktemp("auth")
        port = free_port()
        path = tmp / "config.yaml"
        path.write_text(config_text(port=port, db=tmp / "pm.db", target=target,
                                    auth=auth_block() if auth is None else auth, server=server))
        svc = ServiceThread(create_app(load_config(path), config_path=path), port).start()
        started.append(svc)
        return AuthService(svc, path)

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture(scope="module")
def auth_service(start_service) -> AuthService:
    service = start_service()
    with service.token_client("viewer") as client:
        wait_for(lambda: client.get("/api/v1/alerts").json()["firing"], what="the alert firing")
    return service
