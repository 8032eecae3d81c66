"""How a real centre judges what agents push: a check seen from three locations follows its quorum,
an agent that falls silent turns its checks unknown and raises one alert of its own, and results it
buffered through a silence fill the span with what it saw, without alerts for the past."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from storage.models import StateChangeRow
from tests.remote.wire import PROD_TOKEN, TEST_TOKEN, Pusher, Wire, centre_config
from tests.scaleout.harness import Replica
from tests.targets import wait_for


def state(centre: Replica, check_id: str) -> dict:
    return centre.json(f"/api/v1/checks/{check_id}") or {}


def status(centre: Replica, check_id: str) -> str | None:
    return state(centre, check_id).get("state", {}).get("status")


def changes(db: str, check_id: str) -> list[tuple[float, str, str, str]]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            rows = session.scalars(select(StateChangeRow).where(StateChangeRow.check_id == check_id)
                                   .order_by(StateChangeRow.ts))
            return [(r.ts.timestamp(), r.old, r.new, r.reason) for r in rows]
    finally:
        engine.dispose()


@pytest.fixture
def start(tmp_path, hook):
    started: list[Replica] = []

    def run(checks: str, interval: float = 1.0) -> tuple[Replica, str]:
        db = str(tmp_path / "centre.db")
        config = centre_config(tmp_path / "centre.yaml", db=db, hook_port=hook.port, checks=checks, interval=interval)
        centre = Replica("centre", config, tmp_path).start()
        started.append(centre)
        return centre, db

    yield run
    for centre in started:
        centre.stop()


def test_three_locations_one_failing_is_degraded_two_are_down(start, target):
    centre, _ = start(f'  - {{name: api, component: paas, kind: http, url: "{target.url}/api", '
                      "locations: [central, prod-dc, test-dc], quorum: 2}\n")
    prod = Pusher(Wire(centre, PROD_TOKEN), ["paas/api"]).start()
    test = Pusher(Wire(centre, TEST_TOKEN), ["paas/api"]).start()
    try:
        wait_for(lambda: status(centre, "paas/api") == "up", timeout=15, what="up from three locations")
        assert state(centre, "paas/api")["state"]["reason"] == "up from central, prod-dc, test-dc"
        prod.statuses["paas/api"] = ("down", "connection refused")
        wait_for(lambda: status(centre, "paas/api") == "degraded", timeout=10, what="degraded")
        assert state(centre, "paas/api")["state"]["reason"] == (
            "down from 1 of 3 locations (quorum 2): prod-dc: connection refused")
        test.statuses["paas/api"] = ("down", "timeout after 500ms")
        wait_for(lambda: status(centre, "paas/api") == "down", timeout=10, what="down")
        assert state(centre, "paas/api")["state"]["reason"] == (
            "down from 2 of 3 locations (quorum 2): prod-dc: connection refused; test-dc: timeout after 500ms")
        detail = state(centre, "paas/api")
        assert detail["locations"] == ["central", "prod-dc", "test-dc"] and detail["quorum"] == 2
        by = {entry["location"]: entry["last_result"]["status"] for entry in detail["by_location"]}
        assert by == {"central": "up", "prod-dc": "down", "test-dc": "down"}
        rows = httpx.get(f"{centre.url}/api/v1/checks/paas/api/results", params={"location": "test-dc"}).json()
        assert rows and {r["location"] for r in rows} == {"test-dc"} and rows[0]["status"] == "down"
        assert centre.metric_sum("platform_monitor_check_location_up", check="paas/api", location="central") == 1
        assert centre.metric_sum("platform_monitor_check_location_up", check="paas/api", location="prod-dc") == 0
        assert centre.metric_sum("platform_monitor_check_up", check="paas/api") == 0
        test.silent = prod.silent = True  # two of three locations stop reporting: fewer than the quorum
        wait_for(lambda: status(centre, "paas/api") == "unknown", timeout=15, what="unknown")
        reason = state(centre, "paas/api")["state"]["reason"]
        assert reason.startswith("only 1 of 3 locations report (quorum 2): prod-dc: agent prod-dc not reporting since")
    finally:
        prod.stop()
        test.stop()


def test_a_silent_agent_turns_its_checks_unknown_with_one_alert_and_its_buffer_fills_the_span(start, hook):
    checks = "".join(f'  - {{name: r{i}, component: registry-prod, kind: http, url: "http://127.0.0.1:9/", '
                     f"location: prod-dc}}\n" for i in range(3))
    centre, db = start(checks)
    ids = [f"registry-prod/r{i}" for i in range(3)]
    prod = Pusher(Wire(centre, PROD_TOKEN), ids).start()
    try:
        wait_for(lambda: all(status(centre, c) == "up" for c in ids), timeout=15, what="the agent's checks up")
        wait_for(lambda: status(centre, "agents/prod-dc") == "up", timeout=10, what="the agent up")
        before = len(hook.events())  # (its check was down until it first reported: that episode is no matter)
        prod.silent = True
        silent_from = time.time()
        wait_for(lambda: all(status(centre, c) == "unknown" for c in ids), timeout=15, what="its checks unknown")
        assert time.time() - silent_from < 2 * 1.0 + 3.5  # two intervals, a round, a loaded machine
        reason = state(centre, ids[0])["state"]["reason"]
        assert reason.startswith("agent prod-dc not reporting since"), reason
        wait_for(lambda: status(centre, "agents/prod-dc") == "down", timeout=25, what="the agent's check down")
        wait_for(lambda: ("check:agents/prod-dc", "firing") in hook.events()[before:], timeout=10,
                 what="the agent's alert")
        time.sleep(2)
        # one alert: the agent's, not one per check (test-dc never reported: its own alert is no matter here)
        assert [e for e in hook.events()[before:] if "test-dc" not in e[0]] == [("check:agents/prod-dc", "firing")]
        spans = [c for c in changes(db, ids[0]) if c[2] == "unknown" and c[3].startswith("agent prod-dc")]
        assert len(spans) == 1
        rows = httpx.get(f"{centre.url}/api/v1/checks/{ids[0]}/results", params={"limit": 3}).json()
        gap = next(r for r in rows if r["status"] == "unknown")  # the history shows the span as not monitored
        assert gap["reason"].startswith("not monitored: agent prod-dc not reporting since"), gap

        # the agent comes back with what it probed meanwhile: buffered, sent in order, original times
        prod.silent = False
        prod.held = True
        time.sleep(2)  # (it was unreachable, not stopped: the next results are buffered)
        prod.buffer = [r for r in prod.buffer if r["time"] >= silent_from]
        backfill_from = silent_from + 0.2
        import tests.remote.wire as wire

        prod.buffer[:0] = [wire.result(c, backfill_from + k * 0.5, "down" if k in (3, 4) else "up", "probe said so")
                           for k in range(int((time.time() - backfill_from) / 0.5) - 4) for c in ids]
        prod.buffer.sort(key=lambda r: r["time"])
        prod.held = False
        wait_for(lambda: status(centre, ids[0]) == "up" and not prod.buffer, timeout=15, what="buffer delivered")
        wait_for(lambda: ("check:agents/prod-dc", "resolved") in hook.events()[before:], timeout=15,
                 what="agent resolved")
        history = changes(db, ids[0])
        assert not [c for c in history if c[3].startswith("agent prod-dc")], history  # the span is filled
        downs = [c for c in history if c[2] == "down"]
        assert downs and all(backfill_from <= c[0] < silent_from + 10 for c in downs)  # what the agent saw, then
        time.sleep(2)
        assert ("check:registry-prod/r0", "firing") not in hook.events()  # the past does not page
        at = downs[0][0] + 0.2
        instant = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"
        snapshot = httpx.get(f"{centre.url}/api/v1/snapshot", params={"at": instant}).json()
        shown = {c["id"]: c for c in snapshot["checks"]}[ids[0]]
        assert shown["state"] == "down" and shown["last_result"]["reason"] == "probe said so"
    finally:
        prod.stop()


def test_results_buffered_while_the_centre_was_down_are_all_kept_once_and_fill_the_outage(start, tmp_path):
    centre, db = start('  - {name: reg, component: registry-prod, kind: http, url: "http://127.0.0.1:9/", '
                       "location: prod-dc}\n")
    prod = Pusher(Wire(centre, PROD_TOKEN), ["registry-prod/reg"]).start()
    try:
        wait_for(lambda: status(centre, "registry-prod/reg") == "up", timeout=15, what="up")
        centre.stop()
        down_from = time.time()
        time.sleep(1.5)
        prod.statuses["registry-prod/reg"] = ("down", "connection refused")  # what the agent sees meanwhile
        time.sleep(3)
        prod.statuses["registry-prod/reg"] = ("up", "")
        time.sleep(3.5)
        assert len(prod.buffer) >= 12  # nothing could be sent
        centre.start()
        wait_for(lambda: not prod.buffer, timeout=20, what="the buffer delivered")
        wait_for(lambda: status(centre, "registry-prod/reg") == "up", timeout=10, what="up again")
        time.sleep(1.5)
    finally:
        prod.stop()
    engine = create_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            from storage.models import ResultRow

            rows = [(r.ts.timestamp(), r.status) for r in session.scalars(
                select(ResultRow).where(ResultRow.check_id == "registry-prod/reg").order_by(ResultRow.ts))]
    finally:
        engine.dispose()
    sent = sorted((r["time"], r["status"]) for r in prod.sent)
    stored = [(round(ts, 3), st) for ts, st in rows if st != "unknown"]
    assert stored == [(round(t, 3), st) for t, st in sent]  # every result once, with its original time
    history = changes(db, "registry-prod/reg")
    assert not [c for c in history if c[2] == "unknown" and c[0] > down_from], history  # no hole left
    downs = [c for c in history if c[2] == "down"]
    assert len(downs) == 1 and down_from + 1 < downs[0][0] < down_from + 5, history  # as the agent saw it
