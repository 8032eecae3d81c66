"""The secrets drill (issue 9): secrets planted everywhere a user can put them, a whole service run
against targets on 127.0.0.1 that echo the request (headers, URL, body) in their error answers and
fail so that alerts fire to a real webhook sink, then every output searched for every secret: each
/api/v1 GET, /metrics, the UI pages and their data, every table of the database (packed blobs
decompressed), the log, the webhook deliveries and `validate` on a broken config."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import sqlite3
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.api import create_app
from monitor.cli import main as cli_main
from monitor.config import parse_config
from tests.alerts.servers import WebhookReceiver
from tests.peers import free_port
from tests.targets import ServiceThread, wait_for

HEADER_TOKEN = "envtok-H3ad3rVal"  # ${HEADER_TOKEN} in a check's Authorization header
URL_PASSWORD = "urlpw-S3cretVal"  # http://robot:<this>@…
QUERY_TOKEN = "qtok-T0kenVal"  # ?token=
QUERY_ACCESS_TOKEN = "qacc-Acc3ssVal"  # ?access_token=
FORM_PASSWORD = "formpw-L0ginVal"  # a flow's login form
BASIC_PASSWORD = "basicpw-B4sicVal"  # a flow's auth: basic
REGISTRY_PASSWORD = "regpw-R3gistryVal"  # a registry check's auth
DB_PASSWORD = "dbpw-P0stgresVal"  # a postgres check's password
HOOK_SECRET = "hooksecret-W3bh00kVal"  # ${HOOK_SECRET}: the webhook's signing secret
HOOK_URL_TOKEN = "hookurl-T0kVal"  # ?token= in the webhook receiver's URL


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EchoTarget:
    """Answers `POST /login` with a fresh bearer token (what a flow captures) and every other
    request with 401 and a JSON echo of the request: method, URL, headers and body."""

    def __init__(self, flow_token: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/login":
                    status, data = 200, {"access_token": flow_token, "token_type": "Bearer"}
                else:
                    status, data = 401, {"error": "denied", "method": self.command, "url": self.path,
                                         "headers": dict(self.headers.items()), "body": body.decode("latin-1")}
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flow_token() -> str:
    return "flowtok-" + secrets.token_hex(8)


@pytest.fixture
def echo(flow_token: str):
    target = EchoTarget(flow_token)
    yield target
    target.close()


@pytest.fixture
def hook():
    receiver = WebhookReceiver(HOOK_SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADER_TOKEN", HEADER_TOKEN)
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)


def planted(flow_token: str) -> list[str]:
    """Every secret of the config below, the token a flow captures at run time, and the Basic
    credentials built from user and password."""
    return [HEADER_TOKEN, URL_PASSWORD, QUERY_TOKEN, QUERY_ACCESS_TOKEN, FORM_PASSWORD, BASIC_PASSWORD,
            REGISTRY_PASSWORD, DB_PASSWORD, HOOK_SECRET, HOOK_URL_TOKEN, flow_token,
            b64(f"robot:{URL_PASSWORD}"), b64(f"ops:{BASIC_PASSWORD}"), b64(f"robot:{REGISTRY_PASSWORD}")]


def config_text(echo: EchoTarget, hook: WebhookReceiver, db: Path, port: int, closed_port: int) -> str:
    base = f"http://127.0.0.1:{echo.port}"
    creds = f"http://robot:{URL_PASSWORD}@127.0.0.1:{echo.port}"
    query = f"token={QUERY_TOKEN}&access_token={QUERY_ACCESS_TOKEN}&region=eu"
    return f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}", flush_interval: 100ms}}
defaults: {{interval: 1s, timeout: 1s, failure_threshold: 1}}
checks:
  - name: env-header
    component: drill
    kind: http
    url: {base}/env-header
    headers: {{Authorization: "Bearer ${{HEADER_TOKEN}}"}}
    expect: {{status: [401], json: [{{path: headers.authorization, equals: "no"}}]}}
  - name: url-basic
    component: drill
    kind: http
    url: "{creds}/url-basic?{query}"
    expect: {{status: [401], json: [{{path: headers.authorization, equals: "no"}}]}}
  - name: url-query
    component: drill
    kind: http
    url: "{creds}/url-query?{query}"
    expect: {{status: [401], json: [{{path: url, equals: "no"}}]}}
  - name: login
    component: drill
    kind: flow
    steps:
      - name: login
        request: {{method: POST, url: "{base}/login", form: {{username: ops, password: "{FORM_PASSWORD}"}}}}
        capture: {{token: {{json: access_token}}}}
      - name: api
        request:
          url: "{base}/api?access_token={{{{ token }}}}"
          headers: {{Authorization: "Bearer {{{{ token }}}}"}}
        expect: {{status: [401], json: [{{path: headers.authorization, equals: "no"}}]}}
  - name: basic-flow
    component: drill
    kind: flow
    auth: {{kind: basic, username: ops, password: "{BASIC_PASSWORD}"}}
    steps:
      - name: api
        request: {{method: POST, url: "{base}/basic", body: "password={BASIC_PASSWORD}"}}
        expect: {{status: [401], json: [{{path: body, equals: "no"}}]}}
  - name: registry
    component: drill
    kind: registry
    url: {base}
    auth: {{username: robot, password: "{REGISTRY_PASSWORD}"}}
  - name: db
    component: drill
    kind: postgres
    host: 127.0.0.1
    port: {closed_port}
    user: monitor
    password: "{DB_PASSWORD}"
alerts:
  repeat_interval: 0s
  delivery: {{initial_backoff: 100ms, max_backoff: 400ms}}
  receivers:
    - {{name: hook, kind: webhook, url: "{hook.url}/hook?token={HOOK_URL_TOKEN}", secret: "${{HOOK_SECRET}}"}}
"""


def api_get_paths(svc: ServiceThread, check_ids: list[str]) -> list[str]:
    """Every GET route of /openapi.json, path parameters filled with each check and component."""
    paths: list[str] = []
    for path, ops in svc.json("/openapi.json")["paths"].items():
        if "get" not in ops:
            continue
        if "{check_id}" in path:
            paths += [path.replace("{check_id}", cid) for cid in check_ids]
        elif "{name}" in path:
            paths.append(path.replace("{name}", "drill"))
        elif "{" not in path:
            paths.append(path)
    return paths


def database_texts(db: Path) -> list[tuple[str, str]]:
    """(table.column, text) of every value in every table; blobs as bytes and, when they are
    zlib (packed results: a version byte, then zlib), decompressed."""
    out: list[tuple[str, str]] = []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')  # names from sqlite_master
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    where = f"{table}.{column}"
                    if isinstance(value, bytes):
                        out.append((where, value.decode("latin-1")))
                        for data in (value, value[1:]):
                            with contextlib.suppress(zlib.error):
                                out.append((where + " (zlib)", zlib.decompress(data).decode("latin-1")))
                    elif value is not None:
                        out.append((where, str(value)))
    finally:
        connection.close()
    return out


def leaks(outputs: dict[str, str], secret_values: list[str]) -> list[str]:
    return [f"{secret!r} in {name}: …{text[max(0, text.find(secret) - 80):text.find(secret) + 40]}…"
            for name, text in outputs.items() for secret in secret_values if secret in text]


def test_no_planted_secret_appears_in_any_output(
    echo: EchoTarget, hook: WebhookReceiver, env: None, flow_token: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "pm.db"
    closed = free_port()
    port = free_port()
    config = parse_config(config_text(echo, hook, db, port, closed))
    svc = ServiceThread(create_app(config), port).start()
    outputs: dict[str, str] = {}
    try:
        check_ids = [c.id for c in config.all_checks()]
        wait_for(lambda: {k.removeprefix("check:") for k, _ in hook.events()} >= set(check_ids),
                 timeout=30, what="a firing alert for every check")
        reasons = {c["id"]: c["state"]["reason"] for c in svc.json("/api/v1/checks")}
        for path in api_get_paths(svc, check_ids):
            outputs[f"GET {path}"] = svc.get(path).text
        for path in ("/metrics", "/", "/incidents", "/status", "/replay", "/components/drill", "/status/data",
                     *(f"/checks/{cid}" for cid in check_ids), "/api/v1/incidents?alerts=true",
                     *(f"/ui/figure/{name}" for name in ("timeline", "incidents")),
                     *(f"/ui/figure/latency?check={cid}" for cid in check_ids)):
            outputs[f"GET {path}"] = svc.get(path).text
    finally:
        svc.stop()
    for i, request in enumerate(hook.requests):
        shown = {k: v for k, v in request.headers.items() if k != "x-platform-monitor-signature"}
        outputs[f"webhook delivery {i}"] = request.body.decode() + json.dumps(shown)
    for where, text in database_texts(db):
        outputs[f"database {where}"] = outputs.get(f"database {where}", "") + "\n" + text
    outputs["log"] = caplog.text
    found = leaks(outputs, planted(flow_token))
    assert not found, "\n".join(found)
    # The targets did echo: the reasons show where a secret was, redacted.
    assert reasons["drill/env-header"] == "JSONPath `headers.authorization` = '<redacted>' (expected 'no')"
    assert reasons["drill/url-basic"] == "JSONPath `headers.authorization` = 'Basic <redacted>' (expected 'no')"
    assert reasons["drill/url-query"] == (
        "JSONPath `url` = '/url-query?token=<redacted>&access_token=<redacted>&region=eu' (expected 'no')")
    assert reasons["drill/login"] == "step api: JSONPath `headers.authorization` = 'Bearer <redacted>' (expected 'no')"
    assert reasons["drill/basic-flow"] == "step api: JSONPath `body` = '<redacted>' (expected 'no')"
    assert any("<redacted>" in text for name, text in outputs.items() if name.startswith("database"))
    assert hook.requests and all(urlsplit(r.path).path == "/hook" for r in hook.requests)


def test_validate_never_prints_a_secret(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"""
checks:
  - name: api
    component: drill
    kind: http
    url: "http://robot:{URL_PASSWORD}@127.0.0.1:99999/?token={QUERY_TOKEN}&access_token={QUERY_ACCESS_TOKEN}"
    headers: {{Authorization: "Bearer ${{HEADER_TOKEN}}"}}
  - name: flow
    component: drill
    kind: flow
    auth: {{kind: basic, username: ops, password: "{BASIC_PASSWORD}"}}
    steps:
      - name: login
        request: {{url: "ftp://ops:{FORM_PASSWORD}@h/?access_token={QUERY_ACCESS_TOKEN}"}}
  - name: slow
    component: drill
    kind: http
    url: http://127.0.0.1/
    interval: "${{HEADER_TOKEN}}"
  - name: db
    component: drill
    kind: postgres
    host: 127.0.0.1
    password: "{DB_PASSWORD}"
    port: "{DB_PASSWORD}"
alerts:
  receivers:
    - {{name: hook, kind: webhook, url: "ftp://127.0.0.1/hook?token={HOOK_URL_TOKEN}", secret: "${{HOOK_SECRET}}",
       timeout: "${{HOOK_SECRET}}"}}
""")
    assert cli_main(["validate", str(broken)]) == 2
    printed = capsys.readouterr()
    output = {"stdout": printed.out, "stderr": printed.err, "log": caplog.text}
    assert "99999" in printed.err and "is not a duration" in printed.err, printed.err
    found = leaks(output, planted("flowtok-none"))
    assert not found, "\n".join(found)
