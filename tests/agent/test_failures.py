"""The agent when the centre is away, refuses, limits or disagrees on the time, and when it is
killed: every result counted, none lost that the buffer could hold, none sent twice."""

from __future__ import annotations

import sqlite3
import time
from itertools import pairwise

import httpx

from tests.agent.conftest import NO_GAP, TOKEN, http_check, max_gap, wait_for


def _times(results: list[dict], check: str) -> list[float]:
    return sorted(r["time"] for r in results if r["check"] == check)


def file_counters(agent) -> dict:
    """What the (closed) buffer file holds: results waiting, and its persisted counters."""
    with sqlite3.connect(agent.buffer) as db:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('dropped', 'refused')"))
        return {"results": db.execute("SELECT COUNT(*) FROM results").fetchone()[0],
                "dropped": meta.get("dropped"), "refused": meta.get("refused")}


def _delivered_once(centre) -> None:
    results = centre.results()
    assert len(results) == len(centre.stored()), "a result was sent twice"


def test_an_outage_of_the_centre_loses_nothing(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a")])
    agent = make_agent(centre)
    wait_for(lambda: centre.results(), 10, "first results")
    centre.stop()
    stopped = time.time()
    time.sleep(20)
    assert agent.readyz()[0] == 200  # 20 s < max(30 s, 3 heartbeats): not yet a problem
    buffered = agent.metrics()["platform_monitor_agent_buffer_results"]
    assert buffered >= 80  # five results a second
    centre.start()
    back = time.time()
    wait_for(lambda: agent.metrics()["platform_monitor_agent_buffer_results"] == 0
             and _times(centre.results(), "t/a")[-1] > back, 40, "the buffer to drain")
    _delivered_once(centre)
    times = _times(centre.results(), "t/a")
    during = [t for t in times if stopped < t < back]
    assert len(during) >= 80
    assert max_gap(times) < NO_GAP  # no gap: the outage is covered
    # their original times: sent in batches after the centre came back
    late = [b for b in centre.recorded.batches if any(stopped < r["time"] < back for r in b["results"])]
    assert all(b["sent_at"] >= back for b in late)
    assert agent.metrics()['platform_monitor_agent_pushes_total{outcome="unreachable"}'] >= 3
    assert agent.terminate() == 0
    n = len(centre.results())
    assert agent.counts() == {"waiting": 0, "made": n, "accepted": n}  # every run, once


def test_kill_9_with_a_full_buffer_loses_nothing_and_sends_nothing_twice(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a"), http_check(target, "b")])
    agent = make_agent(centre)
    wait_for(lambda: centre.results(), 10, "first results")
    centre.answer = 503
    wait_for(lambda: agent.metrics()["platform_monitor_agent_buffer_results"] >= 20, 10, "a buffer of 20")
    agent.kill()
    with sqlite3.connect(agent.buffer) as db:
        kept = {(c, t) for c, t in db.execute("SELECT check_id, json_extract(body, '$.time') FROM results")}
    assert len(kept) >= 15  # the metric counted a few still in memory
    assert not kept & set(centre.stored())  # nothing in the file was accepted before
    agent.start()  # the same buffer file, the centre still away: it runs the assignment kept in the file
    wait_for(lambda: agent.metrics()["platform_monitor_agent_buffer_results"] >= len(kept) + 5, 10,
             "new results buffered by the restarted agent")
    assert centre.recorded.statuses[-1] == 503
    centre.answer = None
    wait_for(lambda: kept <= set(centre.stored()), 15, "the kept results at the centre")
    assert agent.terminate() == 0
    _delivered_once(centre)
    for check in ("t/a", "t/b"):
        times = _times(centre.results(), check)
        # lost to the kill at most what was in memory (100 ms) and the run in flight (the target saw them)
        assert 0 <= target.behaviour.hits[f"/{check[2:]}"] - len(times) <= 3
        # before the kill (delivered or kept), then the restarted agent's: no gap but the restart's
        gaps = [b - a for a, b in pairwise(times)]
        assert sum(1 for g in gaps if g > NO_GAP) <= 1 and max(gaps) < 15


def test_a_wrong_token_at_the_first_fetch_is_one_clear_line_and_not_ready(make_centre, make_agent):
    centre = make_centre([])
    centre.token = "the-centre-knows-another-token"
    agent = make_agent(centre)
    wait_for(lambda: "401 Unauthorized" in agent.log(), 5, "the 401 in the log")
    line = next(x for x in agent.log().splitlines() if "401 Unauthorized" in x)
    assert "ERROR" in line and f"fetching the checks from {centre.url} failed" in line and "retrying in 10s" in line
    assert agent.readyz() == (503, {"status": "not ready", "problems": ["no assignment fetched from the centre yet"]})
    assert agent.terminate() == 0  # nothing to push: it leaves at once
    assert not centre.recorded.batches


def test_a_wrong_token_while_pushing_keeps_results_buffered(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a")])
    agent = make_agent(centre)
    wait_for(lambda: centre.results(), 10, "first results")
    centre.token = "rotated-at-the-centre-0000"
    wait_for(lambda: "refused the token of agent test-dc" in agent.log(), 5, "the 401 logged")
    time.sleep(2)
    metrics = agent.metrics()
    assert metrics['platform_monitor_agent_pushes_total{outcome="unauthorized"}'] == 1  # retried slowly
    assert metrics["platform_monitor_agent_buffer_results"] >= 8
    centre.token = TOKEN
    wait_for(lambda: agent.metrics()["platform_monitor_agent_buffer_results"] < 5, 15, "the buffer to drain")
    _delivered_once(centre)
    times = _times(centre.results(), "t/a")
    assert max_gap(times) < NO_GAP
    assert agent.terminate() == 0


def test_refused_checks_are_dropped_and_counted_the_rest_delivered(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a"), http_check(target, "b")])
    centre.refuse = {"t/b"}  # the centre moved t/b elsewhere, the agent has not heard yet
    agent = make_agent(centre)
    wait_for(lambda: len(_times(centre.results(), "t/a")) >= 10, 10, "results of t/a")
    metrics = agent.metrics()
    assert not _times(centre.results(), "t/b")
    assert metrics["platform_monitor_agent_results_refused_total"] >= 5
    assert metrics["platform_monitor_agent_buffer_dropped_total"] == 0  # not an overflow
    assert max_gap(_times(centre.results(), "t/a")) < NO_GAP
    assert 403 in centre.recorded.statuses
    assert agent.terminate() == 0
    _delivered_once(centre)
    counters = file_counters(agent)
    assert counters["results"] == 0 and counters["dropped"] is None
    delivered = len(_times(centre.results(), "t/a"))
    assert agent.counts()["made"] == delivered + counters["refused"]  # every run counted
    assert abs(counters["refused"] - delivered) <= 3  # t/b's runs as many as t/a's


def test_too_large_halves_the_batch(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a"), http_check(target, "b")], settings={"push_interval": 2.0})
    centre.max_results = 3  # ten results a second, pushed every 2 s: batches of ~20 at first
    agent = make_agent(centre)
    wait_for(lambda: len(centre.results()) >= 20, 15, "20 results")
    assert agent.terminate() == 0
    statuses = centre.recorded.statuses
    assert statuses.count(413) >= 3  # ~20 → 10 → 5 → 2
    after = centre.recorded.batches[-statuses[statuses.index(413):].count(200):]
    assert all(len(b["results"]) <= 3 for b in after) and max(len(b["results"]) for b in after) == 2
    _delivered_once(centre)
    n = len(centre.results())
    assert agent.counts() == {"waiting": 0, "made": n, "accepted": n}
    assert "batches of 2 now" in agent.log()


def test_overflow_drops_the_oldest_and_counts_them(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a")])
    agent = make_agent(centre, "--buffer-max", "10")
    wait_for(lambda: centre.results(), 10, "first results")
    centre.answer = 503
    wait_for(lambda: agent.metrics()["platform_monitor_agent_buffer_dropped_total"] >= 5, 10, "5 dropped")
    centre.answer = None
    back = time.time()
    wait_for(lambda: _times(centre.results(), "t/a")[-1] > back + 0.5, 10, "results after the outage")
    dropped = agent.metrics()["platform_monitor_agent_buffer_dropped_total"]
    assert centre.recorded.batches[-1]["dropped"] == dropped
    assert "buffer full (10 results): dropped the" in agent.log()
    assert agent.terminate() == 0
    _delivered_once(centre)
    times = _times(centre.results(), "t/a")
    # every run counted: delivered, or dropped as the oldest of the outage (one stretch)
    assert agent.counts() == {"waiting": 0, "made": len(times) + dropped, "accepted": len(times)}
    gaps = [b - a for a, b in pairwise(times) if b - a > NO_GAP]
    assert len(gaps) == 1 and abs(gaps[0] - 0.2 * (dropped + 1)) < NO_GAP  # the dropped stretch


def test_a_skewed_clock_is_corrected_and_reported(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a")])
    centre.skew = 30.0  # the centre's clock is 30 s ahead of the agent's machine
    agent = make_agent(centre)
    wait_for(lambda: len(centre.results()) >= 5, 10, "results")
    results = centre.results()
    made = [r["time"] - 30.0 for r in results]  # back on this machine's clock
    now = time.time()
    assert all(now - 10 < t < now for t in made)
    assert all(abs(r["time"] - round(r["time"], 3)) < 1e-9 for r in results)
    metrics = agent.metrics()
    assert abs(metrics["platform_monitor_agent_clock_offset_seconds"] - 30.0) < 0.05
    status, body = agent.readyz()
    assert status == 503
    assert len(body["problems"]) == 1 and "clock off by +30.0" in body["problems"][0]
    assert "max_clock_skew 5s" in body["problems"][0]
    assert abs(centre.recorded.batches[-1]["clock_offset"] - 30.0) < 0.05
    assert abs(centre.recorded.batches[-1]["sent_at"] - (time.time() + 30)) < 5
    assert httpx.get(f"{agent.url}/healthz").status_code == 200
    assert agent.terminate() == 0
