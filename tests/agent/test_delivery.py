"""The agent process against the centre double: results arrive once each with their times, a
stop flushes them, heartbeats keep it seen, a new assignment is picked up without a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import pairwise

from tests.agent.conftest import NO_GAP, ROOT, TOKEN, http_check, max_gap, wait_for


def test_results_arrive_once_with_their_run_times_and_a_stop_pushes_the_rest(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a"), http_check(target, "b")])
    before = time.time()
    agent = make_agent(centre)
    wait_for(lambda: len(centre.results()) >= 10, 15, "10 results")
    status, body = agent.readyz()
    assert (status, body) == (200, {"status": "ready", "problems": []})
    assert agent.terminate() == 0
    after = time.time()

    results = centre.results()
    assert len(results) == len(centre.stored())  # none twice
    for check in ("t/a", "t/b"):
        times = [r["time"] for r in results if r["check"] == check]
        assert times == sorted(times) and before < times[0] and times[-1] < after
        assert all(t == round(t, 3) for t in times)
        assert max_gap(times) < NO_GAP  # one run every 200 ms, none missing
    assert {r["status"] for r in results} == {"up"}
    assert all(r["latency"] and r["latency"] < 2 for r in results)
    assert agent.counts() == {"waiting": 0, "made": len(results), "accepted": len(results)}  # every run, once
    envelope = centre.recorded.batches[-1]
    assert envelope["config_version"] == centre.version and abs(envelope["clock_offset"]) < 0.02  # one machine
    assert envelope["dropped"] == 0 and envelope["agent_version"]


def test_heartbeats_without_results_and_metrics(make_centre, make_agent):
    centre = make_centre([])
    agent = make_agent(centre)
    wait_for(lambda: len(centre.recorded.batches) >= 3, 10, "three heartbeats")
    assert all(b["results"] == [] and b["buffered"] == 0 for b in centre.recorded.batches)
    sent = [b["sent_at"] for b in centre.recorded.batches]
    assert all(0.8 < b - a < 2.5 for a, b in pairwise(sent)), sent  # heartbeat_interval 1 s, a loaded machine
    metrics = agent.metrics()
    assert metrics['platform_monitor_agent_pushes_total{outcome="ok"}'] >= 3
    assert metrics[f'platform_monitor_agent_config_version_info{{version="{centre.version}"}}'] == 1.0
    assert metrics["platform_monitor_agent_checks"] == 0
    assert metrics["platform_monitor_agent_buffer_results"] == 0
    assert abs(metrics["platform_monitor_agent_clock_offset_seconds"]) < 0.02
    assert agent.terminate() == 0


def test_a_new_assignment_is_run_without_a_restart(target, make_centre, make_agent):
    centre = make_centre([http_check(target, "a")])
    agent = make_agent(centre)
    wait_for(lambda: centre.results(), 10, "results of t/a")
    first = centre.version
    pid = agent.proc.pid
    centre.checks = [http_check(target, "a"), http_check(target, "new")]
    wait_for(lambda: any(r["check"] == "t/new" for r in centre.results()), 10, "results of the new check")
    assert agent.proc.pid == pid and agent.proc.poll() is None
    assert target.behaviour.hits.get("/new")
    metrics = agent.metrics()
    assert metrics[f'platform_monitor_agent_config_version_info{{version="{centre.version}"}}'] == 1.0
    assert f'version="{first}"' not in " ".join(metrics)
    assert metrics["platform_monitor_agent_checks"] == 2
    # t/a kept running through the change: no gap in its results
    times = [r["time"] for r in centre.results() if r["check"] == "t/a"]
    assert max_gap(times) < NO_GAP
    assert agent.terminate() == 0


def test_without_listen_and_buffer_options(tmp_path, target, make_centre):
    """The defaults: no port of its own, the buffer file in the working directory, the token from
    $PM_AGENT_TOKEN."""
    centre = make_centre([http_check(target, "a")])
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "agent", "--server", centre.url, "--name", "dc-1"],
                            cwd=tmp_path, env={**os.environ, "PM_AGENT_TOKEN": f" {TOKEN}\n",
                                               "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(centre.results()) >= 3, 20, "results")
        assert (tmp_path / "platform-monitor-agent-dc-1.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    log = proc.stderr.read()
    n = len(centre.results())
    assert "listening" not in log
    assert f"buffer file closed with 0 results waiting (this run: {n} results made, {n} accepted" in log
