"""The agents' door of a real centre (docs/agents.md): each agent gets its location's checks and
nothing else, a config change reaches a waiting long poll, tokens are checked alike whatever is
wrong with them, failures are rate-limited, a batch is stored once or refused whole."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from storage.models import ResultRow
from tests.remote.wire import PROD_TOKEN, TEST_TOKEN, Wire, centre_config, result
from tests.scaleout.harness import Replica

CHECKS = """\
  - {name: reg, component: registry-prod, kind: http, url: "http://127.0.0.1:9/reg", location: prod-dc}
  - {name: api, component: paas, kind: http, url: "http://127.0.0.1:9/api", locations: [central, prod-dc, test-dc]}
  - {name: home, component: paas, kind: http, url: "http://127.0.0.1:9/home"}
"""


@pytest.fixture
def centre(tmp_path, hook):
    config = centre_config(tmp_path / "centre.yaml", db=str(tmp_path / "centre.db"), hook_port=hook.port,
                           checks=CHECKS)
    replica = Replica("centre", config, tmp_path).start()
    yield replica
    replica.stop()


def stored(db: str, check_id: str) -> list[tuple[int, str]]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            return [(int(r.ts.timestamp() * 1000), r.status) for r in
                    session.scalars(select(ResultRow).where(ResultRow.check_id == check_id).order_by(ResultRow.ts))]
    finally:
        engine.dispose()


def test_each_agent_gets_its_location_and_a_change_wakes_the_long_poll(centre, tmp_path):
    prod = Wire(centre, PROD_TOKEN)
    answer = prod.checks()
    assert answer.status_code == 200
    body = answer.json()
    assert answer.headers["etag"] == f'"{body["version"]}"'
    assert [c["name"] for c in body["checks"]] == ["reg", "api"]
    for check in body["checks"]:  # where it runs and what it covers are the centre's business
        assert not {"location", "locations", "quorum", "depends_on"} & set(check)
    assert body["checks"][0]["interval"] == "1s" and body["settings"]["buffer"] == 100_000
    test = Wire(centre, TEST_TOKEN)  # token_sha256 in the config: the secret itself is not there
    assert [c["name"] for c in test.checks().json()["checks"]] == ["api"]

    started = time.monotonic()
    assert prod.checks(version=body["version"], wait=1).status_code == 304
    assert time.monotonic() - started >= 0.9

    answers: list[httpx.Response] = []
    poll = threading.Thread(target=lambda: answers.append(prod.checks(version=body["version"], wait=30)))
    poll.start()
    time.sleep(1)
    config = tmp_path / "centre.yaml"
    config.write_text(config.read_text().replace(
        "  - {name: home,",
        '  - {name: new, component: registry-prod, kind: tcp, host: 127.0.0.1, port: 9, location: prod-dc}\n'
        "  - {name: home,"))
    poll.join(timeout=20)
    assert answers and answers[0].status_code == 200, "the long poll did not return the new assignment"
    assert [c["name"] for c in answers[0].json()["checks"]] == ["reg", "api", "new"]
    assert answers[0].json()["version"] != body["version"]


def test_tokens_missing_unknown_or_wrong_get_one_answer_and_failures_are_limited(centre):
    url = f"{centre.url}/api/v1/agent/results"
    answers = [
        httpx.post(url, json={"results": []}),
        httpx.post(url, json={"results": []}, headers={"Authorization": "Bearer no-such-agent-token-at-all"}),
        httpx.post(url, json={"results": []}, headers={"Authorization": f"Bearer {PROD_TOKEN}x"}),
        httpx.post(url, json={"results": []}, headers={"Authorization": f"Basic {PROD_TOKEN}"}),
        httpx.get(f"{centre.url}/api/v1/agent/checks", headers={"Authorization": f"Bearer {TEST_TOKEN[:-1]}"}),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert all(a.json() == {"detail": "unauthorized"} for a in answers)
    assert all(a.headers["www-authenticate"] == "Bearer" for a in answers)
    assert centre.metric_sum("platform_monitor_agent_auth_failures_total", reason="invalid") == 4
    assert centre.metric_sum("platform_monitor_agent_auth_failures_total", reason="missing") == 1
    codes = [httpx.post(url, json={"results": []}, headers={"Authorization": "Bearer guess-0123456789abc"}).status_code
             for _ in range(20)]
    assert codes.count(401) == 15 and codes[-5:] == [429] * 5, codes
    limited = httpx.post(url, json={"results": []}, headers={"Authorization": f"Bearer {PROD_TOKEN}"})
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60  # the address, not the token
    assert centre.metric_sum("platform_monitor_agent_auth_failures_total", reason="rate_limited") >= 6


def test_a_batch_is_stored_once_or_refused_whole(centre, tmp_path):
    db = str(tmp_path / "centre.db")
    prod = Wire(centre, PROD_TOKEN)
    now = time.time()
    batch = [result("registry-prod/reg", now - 3 + i) for i in range(3)]
    first = prod.push(batch)
    assert first.status_code == 200 and first.json()["accepted"] == 3 and first.json()["duplicates"] == 0
    again = prod.push(batch)  # a re-sent batch (the answer was lost): kept once
    assert again.status_code == 200 and again.json() == {**again.json(), "accepted": 0, "duplicates": 3}
    assert len(stored(db, "registry-prod/reg")) == 3

    mixed = [result("registry-prod/reg", now + 0.5), result("paas/home", now), result("no/such", now)]
    refused = prod.push(mixed)
    assert refused.status_code == 403
    assert refused.json()["refused"] == ["no/such", "paas/home"]
    assert "runs at the centre" in refused.json()["reasons"]["paas/home"]
    assert len(stored(db, "registry-prod/reg")) == 3  # nothing of a refused batch is stored
    assert centre.metric_sum("platform_monitor_agent_results_refused_total", agent="prod-dc") == 2

    test = Wire(centre, TEST_TOKEN)
    assert test.push([result("registry-prod/reg", now)]).status_code == 403  # prod-dc's check
    assert test.push([result("paas/api", now, "down", "refused")]).status_code == 200
    assert stored(db, "paas/api@test-dc") == [(round(now * 1000), "down")]  # stored per location

    too_many = prod.push([result("registry-prod/reg", now - 1000 + i * 0.01) for i in range(5001)])
    assert too_many.status_code == 413
    huge = httpx.post(f"{centre.url}/api/v1/agent/results", content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                      headers={**prod.headers, "Content-Type": "application/json"})
    assert huge.status_code == 413
    bad = prod.push([{"check": "registry-prod/reg", "time": now, "status": "fine"}])
    assert bad.status_code == 422 and "results.0.status" in bad.json()["detail"]
    future = prod.push([result("registry-prod/reg", now + 3600)])
    assert future.status_code == 403 and "ahead of the centre's clock" in future.json()["reasons"]["registry-prod/reg"]

    agents = {a["name"]: a for a in httpx.get(f"{centre.url}/api/v1/agents").json()}
    assert agents["prod-dc"]["results"] == 3 and agents["prod-dc"]["address"] == "127.0.0.1"
    assert agents["test-dc"]["results"] == 1
    assert centre.metric_sum("platform_monitor_agent_results_received_total", agent="prod-dc") == 3
    assert centre.metric_sum("platform_monitor_agent_results_repeated_total", agent="prod-dc") == 3


def unread_body_answer(port: int, path: str, headers: dict[str, str]) -> bytes:
    """Announce 50 MiB, send 64 KiB: what the centre answers within 2 s without the rest."""
    import socket

    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(head.encode() + b"[" + b" " * (64 * 1024))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b""


def test_the_agents_routes_refuse_before_reading_and_never_fail_on_bad_input(centre):
    for path in ("/api/v1/agent/results", "/api/v1/agent/discovered"):
        for headers in ({}, {"Authorization": "Bearer not-an-agent-token"}):
            answer = unread_body_answer(centre.port, path, headers)
            assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 401 Unauthorized", (path, answer[:200])
        big = unread_body_answer(centre.port, path, {"Authorization": f"Bearer {PROD_TOKEN}"})
        assert big.split(b"\r\n", 1)[0] == b"HTTP/1.1 413 Request Entity Too Large", (path, big[:200])
    prod = Wire(centre, PROD_TOKEN)
    now = time.time()
    hostile = ["\x00", "\ud800", "🙂" * 300, "a" * 30000, None, 1e308, -1, [], {}, "' OR 1=1 --"]
    url = f"{centre.url}/api/v1/agent/results"
    for value in hostile:
        for field in ("check", "time", "status", "latency", "reason", "details"):
            item = {**result("registry-prod/reg", now), field: value}
            try:
                body = json.dumps({"results": [item]}, ensure_ascii=True)
            except ValueError:
                continue
            answer = httpx.post(url, content=body, headers={**prod.headers, "Content-Type": "application/json"})
            assert answer.status_code in (200, 403, 422), (field, repr(value)[:40], answer.status_code,
                                                           answer.text[:200])
    for path, wrong in (("/api/v1/agent/results", b'{"results": 5}'), ("/api/v1/agent/discovered", b'{"source": 1}')):
        for body in (b"not json", b"[]", wrong, b"{" * 10000):
            answer = httpx.post(centre.url + path, content=body,
                                headers={**prod.headers, "Content-Type": "application/json"})
            assert answer.status_code == 422, (path, body[:20], answer.status_code, answer.text[:200])
    for wait in ("-1", "61", "soon", "\x00"):
        answer = httpx.get(f"{centre.url}/api/v1/agent/checks", params={"wait": wait}, headers=prod.headers)
        assert answer.status_code == 422, (wait, answer.status_code)
    assert prod.checks().status_code == 200  # and the door still works
