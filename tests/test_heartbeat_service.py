"""Heartbeat checks end to end: real HTTP pings against the running service (uvicorn on loopback,
SQLite file; two instances on one PostgreSQL database), states and reasons as the API shows
them, what is stored, counted, logged and kept secret."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
import time

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.api import create_app
from monitor.config import parse_config
from monitor.heartbeats import PING_BURST, PING_REFILL_SECONDS
from storage.db import create_db_engine
from storage.heartbeat_models import PingRow
from storage.models import CheckRow, ResultRow
from tests.peers import free_port
from tests.targets import ServiceThread, wait_for

TOKEN = "hb-4f1c2e9a7b3d5e6f"  # 18 characters, URL-safe
CHECK = "backups/etcd-backup"


def config_text(db_url: str, port: int, *, settings: str = "period: 1h", extra: str = "") -> str:
    return f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "{db_url}", flush_interval: 100ms}}
defaults: {{interval: 200ms, timeout: 200ms}}
{extra}
checks:
  - name: etcd-backup
    component: backups
    kind: heartbeat
    token: {TOKEN}
    failure_threshold: 1
    {settings}
"""


def start(db_url: str, **kw) -> ServiceThread:
    config = parse_config(config_text(db_url, free_port(), **kw))
    return ServiceThread(create_app(config), config.server.port).start()


def state(svc: ServiceThread) -> dict:
    return svc.json(f"/api/v1/checks/{CHECK}")["state"]


def wait_state(svc: ServiceThread, status: str, starts: str = "") -> dict:
    return wait_for(lambda: (s := state(svc))["status"] == status and s["reason"].startswith(starts) and s,
                    what=f"{status} {starts!r}")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'pm.db'}"


def test_start_and_success_pings_make_it_up_with_the_run_time_as_latency_and_the_body_kept(sqlite_url):
    svc = start(sqlite_url)
    try:
        wait_state(svc, "unknown", "waiting for the first ping")
        answer = httpx.get(f"{svc.url}/ping/{TOKEN}/start", timeout=5)
        assert (answer.status_code, answer.text, answer.headers["content-type"]) == \
            (200, "OK\n", "text/plain; charset=utf-8")
        wait_state(svc, "unknown", "first run started")
        time.sleep(1.2)
        body = "backup done\n" + "x" * (20 * 1024)
        answer = httpx.post(f"{svc.url}/ping/{TOKEN}", content=body.encode(), timeout=5)
        assert answer.status_code == 200
        up = wait_state(svc, "up", "last ping ")
        assert re.fullmatch(r"last ping \d\d:\d\d UTC, ran [1-3]s", up["reason"]), up

        def finish_rows():
            rows = svc.json(f"/api/v1/checks/{CHECK}/results?limit=1000")
            return [r for r in rows if r["latency"] is not None]

        finished = wait_for(finish_rows, what="the finish stored")
        time.sleep(1.0)  # five more evaluations: none of them reports the run again
        finished = finish_rows()
        assert len(finished) == 1
        assert 1.1 < finished[0]["latency"] < 3
        assert finished[0]["details"]["body"] == body[: 10 * 1024]
        assert finished[0]["details"]["ping"] == "success"
        others = [r for r in svc.json(f"/api/v1/checks/{CHECK}/results?limit=1000") if r["latency"] is None]
        assert others and all("body" not in (r["details"] or {}) for r in others)

        metrics = svc.get("/metrics").text
        assert ('platform_monitor_heartbeat_pings_total{check="backups/etcd-backup",kind="start",'
                'outcome="accepted"} 1.0') in metrics
        assert ('platform_monitor_heartbeat_pings_total{check="backups/etcd-backup",kind="success",'
                'outcome="accepted"} 1.0') in metrics
        assert 'platform_monitor_check_up{check="backups/etcd-backup",component="backups",kind="heartbeat"} 1.0' \
            in metrics

        # the token is the URL's secret: never shown back
        detail = svc.get(f"/api/v1/checks/{CHECK}")
        assert detail.json()["settings"]["token"] == "<redacted>"
        assert TOKEN not in detail.text and TOKEN not in svc.get("/api/v1/checks").text
    finally:
        svc.stop()
    engine = create_db_engine(sqlite_url)
    with Session(engine) as session:
        assert session.get(CheckRow, CHECK).settings["token"] == "<redacted>"
        assert [(p.kind, len(p.body)) for p in session.scalars(select(PingRow).order_by(PingRow.id))] == \
            [("start", 0), ("success", 10 * 1024)]
    engine.dispose()


def test_fail_and_exit_statuses(sqlite_url):
    svc = start(sqlite_url)
    try:
        assert httpx.post(f"{svc.url}/ping/{TOKEN}/3", content=b"\ntar: /var/lib/etcd: Cannot open\n",
                          timeout=5).status_code == 200
        wait_state(svc, "down", "exit status 3 at ")
        assert state(svc)["reason"].endswith(" UTC: tar: /var/lib/etcd: Cannot open")
        assert httpx.get(f"{svc.url}/ping/{TOKEN}/0", timeout=5).status_code == 200
        wait_state(svc, "up", "last ping ")
        assert httpx.get(f"{svc.url}/ping/{TOKEN}/fail", timeout=5).status_code == 200
        wait_state(svc, "down", "failed at ")
        assert httpx.get(f"{svc.url}/ping/{TOKEN}/255", timeout=5).status_code == 200
        wait_state(svc, "down", "exit status 255 at ")
        for bad in ("256", "-1", "03x", "done"):
            answer = httpx.get(f"{svc.url}/ping/{TOKEN}/{bad}", timeout=5)
            assert answer.status_code == 404, bad
            assert "exit status 0-255" in answer.text
        assert httpx.get(f"{svc.url}/ping/{TOKEN}/1/2", timeout=5).status_code == 404
        assert httpx.put(f"{svc.url}/ping/{TOKEN}", timeout=5).status_code == 405
        metrics = svc.get("/metrics").text
        assert 'kind="fail",outcome="accepted"} 3.0' in metrics
        assert 'kind="success",outcome="accepted"} 1.0' in metrics
    finally:
        svc.stop()


def test_late_past_grace_is_down_then_a_ping_brings_it_back(sqlite_url):
    svc = start(sqlite_url, settings="period: 1s\n    grace: 500ms")
    try:
        assert httpx.get(f"{svc.url}/ping/{TOKEN}", timeout=5).status_code == 200
        wait_state(svc, "up")
        down = wait_state(svc, "down", "no ping since ")
        assert " UTC; expected by " in down["reason"]
        assert httpx.get(f"{svc.url}/ping/{TOKEN}", timeout=5).status_code == 200
        wait_state(svc, "up", "last ping ")
    finally:
        svc.stop()


def test_a_start_not_finished_within_max_runtime_is_down(sqlite_url):
    svc = start(sqlite_url, settings="period: 1h\n    max_runtime: 1s")
    try:
        assert httpx.get(f"{svc.url}/ping/{TOKEN}", timeout=5).status_code == 200
        wait_state(svc, "up")
        assert httpx.get(f"{svc.url}/ping/{TOKEN}/start", timeout=5).status_code == 200
        running = wait_state(svc, "up", "last ping ")
        assert "; running since " in running["reason"] or running
        down = wait_state(svc, "down", "started ")
        assert down["reason"].endswith(" UTC, not finished after 1s")
    finally:
        svc.stop()


def test_unknown_tokens_get_404_and_tokens_are_looked_up_by_hash(sqlite_url):
    svc = start(sqlite_url)
    try:
        for token in (TOKEN[:-1] + "x", TOKEN[:8], "x" * 18, TOKEN + "x", TOKEN.upper(), "a" * 300):
            for path in (f"/ping/{token}", f"/ping/{token}/start", f"/ping/{token}/0"):
                answer = httpx.get(svc.url + path, timeout=5)
                assert (answer.status_code, answer.text) == (404, "not found\n"), path
        assert httpx.post(f"{svc.url}/ping/{TOKEN[:-1]}x", content=b"body", timeout=5).status_code == 404
        assert httpx.get(f"{svc.url}/ping/%00", timeout=5).status_code == 422  # the guard's, before the route
        # the index holds SHA-256 digests, not tokens: what a wrong token shares with a right one
        # (a prefix) changes nothing in the lookup
        index = svc.service.heartbeats._tokens()
        assert set(index) == {hashlib.sha256(TOKEN.encode()).digest()}
        assert TOKEN not in repr(index)
        assert "platform_monitor_heartbeat_unknown_pings_total 19.0" in svc.get("/metrics").text
        wait_state(svc, "unknown", "waiting for the first ping")  # none of those was a ping
    finally:
        svc.stop()


def test_pings_are_rate_limited_per_token(sqlite_url):
    svc = start(sqlite_url)
    try:
        started = time.monotonic()
        answers = [httpx.get(f"{svc.url}/ping/{TOKEN}", timeout=5) for _ in range(PING_BURST + 5)]
        elapsed = time.monotonic() - started
        codes = [a.status_code for a in answers]
        accepted = codes.index(429)  # the burst, plus what refilled while a slow machine sent it
        assert PING_BURST <= accepted <= PING_BURST + int(elapsed // PING_REFILL_SECONDS)
        assert set(codes[:accepted]) == {200}
        refused = answers[accepted]
        assert 1 <= int(refused.headers["retry-after"]) <= 6
        assert f'kind="success",outcome="rate_limited"}} {float(codes.count(429))}' in svc.get("/metrics").text
    finally:
        svc.stop()
    engine = create_db_engine(sqlite_url)
    with Session(engine) as session:
        assert len(session.scalars(select(PingRow)).all()) == accepted + codes[accepted:].count(200)
    engine.dispose()


def test_pings_pass_the_request_guard_bounded_and_stay_open_when_public_only(sqlite_url):
    svc = start(sqlite_url, extra="ui: {public_only: true}")
    try:
        assert svc.get("/api/v1/checks").status_code == 404  # the instance is public-only
        assert httpx.post(f"{svc.url}/ping/{TOKEN}", content=b"ok", timeout=5).status_code == 200
        too_big = httpx.post(f"{svc.url}/ping/{TOKEN}", content=b"x" * (1024 * 1024 + 1), timeout=10)
        assert too_big.status_code == 413
        wait_for(lambda: svc.service.engine.state.checks[CHECK].status.value == "up", what="up")
    finally:
        svc.stop()


def test_the_token_is_redacted_from_the_access_log(sqlite_url):
    """uvicorn's access log prints each request's path: /ping/<token> must not reach it."""
    config = parse_config(config_text(sqlite_url, free_port()))
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=config.server.port,
                                           log_level="info", access_log=True, lifespan="on", loop="asyncio"))
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = access.handlers[0]
    handler.setStream(stream)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="server started")
        url = f"http://127.0.0.1:{config.server.port}"
        assert httpx.get(f"{url}/ping/{TOKEN}/start", timeout=5).status_code == 200
        assert httpx.post(f"{url}/ping/{TOKEN}/3", content=b"log", timeout=5).status_code == 200
        log = wait_for(lambda: (text := stream.getvalue()).count("/ping/") >= 2 and text, what="access log lines")
        assert TOKEN not in log
        assert '"GET /ping/<redacted>/start HTTP/1.1" 200' in log
        assert '"POST /ping/<redacted>/3 HTTP/1.1" 200' in log
    finally:
        server.should_exit = True
        thread.join(30)


def test_two_instances_on_one_postgresql_database_see_each_others_pings(postgres_url):
    """A ping may reach any process: B judges from what A stored, and the finished run is one
    row in the history whichever process reported it."""
    a = start(postgres_url)
    b = start(postgres_url)
    try:
        wait_state(b, "unknown", "waiting for the first ping")
        assert httpx.get(f"{a.url}/ping/{TOKEN}/start", timeout=5).status_code == 200
        wait_state(b, "unknown", "first run started")
        time.sleep(0.3)
        assert httpx.post(f"{a.url}/ping/{TOKEN}/3", content=b"disk full\n", timeout=5).status_code == 200
        wait_state(b, "down", "exit status 3 at ")
        assert state(b)["reason"].endswith(": disk full")
        assert httpx.get(f"{b.url}/ping/{TOKEN}", timeout=5).status_code == 200
        wait_state(a, "up", "last ping ")
        wait_state(b, "up", "last ping ")
        time.sleep(0.5)  # both flushed their results
    finally:
        a.stop()
        b.stop()
    engine = create_db_engine(postgres_url)
    with Session(engine) as session:
        finishes = session.execute(select(ResultRow.ts, ResultRow.status, ResultRow.latency)
                                   .where(ResultRow.check_id == CHECK, ResultRow.latency.is_not(None))).all()
        pings = session.scalars(select(PingRow.kind).order_by(PingRow.id)).all()
    engine.dispose()
    assert pings == ["start", "fail", "success"]
    # both processes reported each finish (dated at the ping): one row each
    assert sorted(status for _, status, _ in finishes) == ["down"]  # the success had no start of its own
    assert len(finishes) == 1 and 0.2 < finishes[0][2] < 5


def test_two_checks_sharing_a_token_get_no_pings(sqlite_url, caplog):
    """A ping must not go to whichever of two checks comes first: both are refused, and said so."""
    copy = f"  - {{name: copy, component: backups, kind: heartbeat, token: {TOKEN}, period: 1h}}\n"
    text = config_text(sqlite_url, free_port()) + copy
    config = parse_config(text)
    svc = ServiceThread(create_app(config), config.server.port).start()
    try:
        with caplog.at_level(logging.ERROR, logger="monitor.heartbeats"):
            assert httpx.get(f"{svc.url}/ping/{TOKEN}", timeout=5).status_code == 404
        assert "heartbeat checks backups/etcd-backup and backups/copy share a token" in caplog.text
        assert TOKEN not in caplog.text
    finally:
        svc.stop()
