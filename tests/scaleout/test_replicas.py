"""Real `serve` processes sharing one database (PostgreSQL, MariaDB, one SQLite file): the checks
are split between them, each probed by one process per interval (counted at the target); after
`kill -9` the survivor takes the shards over, carries the state on (no new unknown → up), and the
firing alert is delivered once across both (counted at the webhook sink)."""

from __future__ import annotations

import signal
import time
from itertools import pairwise

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from monitor.leases import shard_of
from storage.models import ComponentChangeRow, StateChangeRow
from tests.peers import free_port
from tests.scaleout.harness import (
    SECRET,
    Replica,
    max_probes_per_interval,
    wait_balanced,
    write_config,
)
from tests.targets import wait_for

SHARDS = 16
INTERVAL = 2.0
LEASE_TTL = 3.0
CHECKS = 24
SLACK = 2.5  # seconds on top of the promised bounds: process scheduling on a loaded 2-core machine


def database_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")


def unknown_changes(url: str) -> int:
    """State changes out of `unknown`: one per check when it is first seen, none after a takeover."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(StateChangeRow).where(StateChangeRow.old == "unknown")
            return session.scalar(query)
    finally:
        engine.dispose()


def share_and_fire(a: Replica, b: Replica, hook) -> None:
    """Start both, wait until they split the shards and the failing c0 has alerted once, then let
    one more interval pass (the last hand-over settles)."""
    a.start()
    b.start()
    wait_balanced([a, b], SHARDS)
    wait_for(lambda: hook.events() == [("check:svc/c0", "firing")], timeout=15, what="c0's alert")
    time.sleep(INTERVAL)


def parse_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def component_history_is_consistent(url: str) -> bool:
    """The component's changes chain (each starts where the last ended): written once, by the
    leader, not once per process."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(ComponentChangeRow.old, ComponentChangeRow.new)
                                   .order_by(ComponentChangeRow.ts)).all()
    finally:
        engine.dispose()
    assert rows and all(prev.new == row.old and row.old != row.new for prev, row in pairwise(rows)), rows
    return True


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])  # one SQLite file: the --workers test below
def test_two_processes_share_the_checks_and_one_takes_over_after_kill_9(backend, request, tmp_path, target, hook):
    url = database_url(backend, request, tmp_path)
    config = tmp_path / "pm.yaml"
    paths = [f"c{i}" for i in range(CHECKS)]
    write_config(config, url=url, target=target, checks=CHECKS, hook_port=hook.port, interval=INTERVAL,
                 lease_ttl=LEASE_TTL, shards=SHARDS)
    target.failing.add("c0")  # down from the start: one alert, whoever holds it
    a, b = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        a.start()
        b.start()
        joined = time.time()
        wait_balanced([a, b], SHARDS)
        assert time.time() - joined <= 2 * LEASE_TTL + SLACK  # balanced within two lease_ttl of joining
        time.sleep(INTERVAL)  # the rebalancing's last hand-over settles
        steady = time.time()
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, steady, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst  # each probed, by one process
        wait_for(lambda: hook.events() == [("check:svc/c0", "firing")], timeout=15, what="c0's alert")
        # each process serves every check: those the other holds read back from the database
        for r in (a, b):
            checks = {c["id"]: c for c in r.json("/api/v1/checks")}
            assert {cid: c["state"]["status"] for cid, c in checks.items()} == {
                f"svc/c{i}": "down" if i == 0 else "up" for i in range(CHECKS)}
            fresh = time.time() - 2 * INTERVAL - 3  # a run, the writer's batch, the 2 s read
            stale = [cid for cid, c in checks.items()
                     if c["last_result"] is None or parse_time(c["last_result"]["time"]) < fresh]
            assert stale == [], (r.name, stale)
        # the once-only work runs on the leader alone: housekeeping, component metrics
        leaders = [r for r in (a, b) if r.me()["leader"]]
        assert len(leaders) == 1
        rollups = {r.name: r.metric_sum("platform_monitor_housekeeping_runs_total", job="rollup") for r in (a, b)}
        assert rollups[leaders[0].name] >= 1 and sum(rollups.values()) == rollups[leaders[0].name], rollups
        assert [("platform_monitor_component_up" in r.metrics()) for r in (a, b)] == [r in leaders for r in (a, b)]

        # kill -9 the process that holds c0's shard: its checks, its state and its alert move
        holder = next(r for r in (a, b) if shard_of("svc/c0", SHARDS) in r.me()["held_shards"])
        survivor = b if holder is a else a
        before = unknown_changes(url)
        killed = time.time()
        holder.signal(signal.SIGKILL)
        holder.process.wait(timeout=10)
        wait_for(lambda: (survivor.me() or {}).get("shards") == SHARDS, timeout=LEASE_TTL + INTERVAL + SLACK,
                 interval=0.2, what="the survivor holding every shard")
        # every check is probed again within lease_ttl + one interval of the kill
        wait_for(lambda: all(target.times(p, killed) for p in paths), timeout=LEASE_TTL + INTERVAL + SLACK,
                 interval=0.2, what="every check probed after the kill")
        late = {p: round(target.times(p, killed)[0] - killed, 2) for p in paths}
        assert max(late.values()) <= LEASE_TTL + INTERVAL + SLACK, late
        settled = time.time()
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, settled, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst

        # the state carried on: no check went back through unknown, and nothing fired again
        assert unknown_changes(url) == before == CHECKS
        assert hook.events() == [("check:svc/c0", "firing")] and hook.repeats == []
        target.failing.discard("c0")  # what fired before the takeover resolves after it, once
        wait_for(lambda: len(hook.events()) == 2, timeout=15, what="c0's resolution")
        assert hook.events()[-1] == ("check:svc/c0", "resolved") and hook.repeats == []
        assert survivor.metric("platform_monitor_shards_owned") == SHARDS
        assert component_history_is_consistent(url)
        assert survivor.metric("platform_monitor_replicas") == 1
        print(f"{backend}: first probe after kill -9, seconds per check: max {max(late.values())}, "
              f"median {sorted(late.values())[len(late) // 2]}")
    finally:
        for r in (a, b):
            r.stop()
    for r in (a, b):
        assert "Traceback" not in r.log(), r.log()[-3000:]


def test_a_process_cut_off_from_the_database_stops_before_its_shards_move(postgres_url, tmp_path, target, hook):
    """b reaches PostgreSQL through a proxy that freezes: b stops probing and alerting for its shards
    (and says why on /readyz, still serving /metrics) before a may take them; a takes them after
    lease_ttl; no check is probed by both within an interval at any time; when the proxy thaws, b
    rejoins and the shards are split again, with nothing delivered twice."""
    from sqlalchemy import make_url

    from tests.tcpproxy import TcpProxy

    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    paths = [f"c{i}" for i in range(CHECKS)]
    for name, url in (("a", postgres_url), ("b", proxied)):
        write_config(tmp_path / f"{name}.yaml", url=url, target=target, checks=CHECKS, hook_port=hook.port,
                     interval=INTERVAL, lease_ttl=LEASE_TTL, shards=SHARDS)
    target.failing.add("c0")
    a, b = Replica("a", tmp_path / "a.yaml", tmp_path), Replica("b", tmp_path / "b.yaml", tmp_path)
    try:
        share_and_fire(a, b, hook)
        cut = time.time()
        proxy.freeze()

        def stopped() -> str | None:
            body = b.json("/readyz") or {}
            return (body.get("problems") or {}).get("leases")

        reason = wait_for(stopped, timeout=LEASE_TTL + SLACK, interval=0.2, what="b saying it stopped")
        stopped_after = time.time() - cut
        assert "lost contact with the database" in reason, reason
        assert b.metric("platform_monitor_shards_owned") == 0  # /metrics still answers
        wait_for(lambda: (a.me() or {}).get("shards") == SHARDS, timeout=LEASE_TTL + INTERVAL + SLACK,
                 interval=0.2, what="a holding every shard")
        taken_after = time.time() - cut
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, cut - INTERVAL, time.time(), INTERVAL)
        assert max(worst.values()) == 1, worst  # never both: b stopped before a started
        assert all(target.times(p, time.time() - 2 * INTERVAL) for p in paths)  # and none left out

        proxy.thaw()
        wait_balanced([a, b], SHARDS, timeout=30)
        time.sleep(INTERVAL)
        rejoined = time.time()
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, rejoined, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst
        assert b.json("/readyz") == {"status": "ready", "problems": {}}
        assert hook.events() == [("check:svc/c0", "firing")] and hook.repeats == []
        print(f"partition: b stopped {stopped_after:.1f}s after the cut, a held everything {taken_after:.1f}s after")
    finally:
        proxy.thaw()
        for r in (a, b):
            r.stop()
        proxy.close()
    for r in (a, b):
        assert "Traceback" not in r.log(), r.log()[-3000:]


def test_every_process_down_then_one_back_records_the_gap_as_not_monitored(postgres_url, tmp_path, target, hook):
    """Both processes stop; one comes back after more than two intervals: the snapshot API at an
    instant inside the pause says `unknown`, "not monitored", for every check (written by the one
    that resumed), and the checks carry on after it."""
    config = tmp_path / "pm.yaml"
    write_config(config, url=postgres_url, target=target, checks=4, hook_port=hook.port, interval=INTERVAL,
                 lease_ttl=LEASE_TTL, shards=SHARDS)
    a, b = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        a.start()
        b.start()
        wait_balanced([a, b], SHARDS)
        time.sleep(2 * INTERVAL)
        a.stop()
        b.stop()
        stopped = time.time()
        time.sleep(4 * INTERVAL)
        resumed = time.time()
        c = Replica("c", config, tmp_path).start()
        try:
            wait_for(lambda: all(target.times(f"c{i}", resumed) for i in range(4)), timeout=3 * INTERVAL + SLACK,
                     what="the checks probed again")
            inside = stopped + 2.5 * INTERVAL  # past the first missed run (≤ stop + 1 interval), before resuming
            at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(inside)) + f".{int(inside % 1 * 1000):03d}Z"
            snapshot = c.json(f"/api/v1/snapshot?at={at}")
            states = {x["id"]: (x["state"], x["reason"]) for x in snapshot["checks"]}
            assert len(states) == 4, snapshot
            for cid, (state, reason) in states.items():
                assert state == "unknown" and reason.startswith("not monitored"), (cid, state, reason)
            wait_for(lambda: {x["id"]: x["state"] for x in c.json("/api/v1/snapshot")["checks"]}
                     == dict.fromkeys(states, "up"), timeout=10, what="every check up again")
        finally:
            c.stop()
        assert "Traceback" not in c.log()
    finally:
        for r in (a, b):
            r.stop()


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_processes_starting_together_on_a_new_database_migrate_once(backend, request, tmp_path, target, hook):
    """Three processes started at the same instant on an empty database: one migrates, the others
    wait for its lock and find the schema in place; all three come up ready and share the shards."""
    url = database_url(backend, request, tmp_path)
    config = tmp_path / "pm.yaml"
    write_config(config, url=url, target=target, checks=6, hook_port=hook.port, interval=INTERVAL,
                 lease_ttl=LEASE_TTL, shards=SHARDS)
    group = [Replica(name, config, tmp_path) for name in ("a", "b", "c")]
    try:
        for r in group:
            r.start(wait=False)
        for r in group:
            wait_for(lambda r=r: (r.json("/readyz") or {}).get("status") == "ready", timeout=60, interval=0.3,
                     what=f"{r.name} ready")
        wait_balanced(group, SHARDS)
    finally:
        for r in group:
            r.stop()
    for r in group:
        log = r.log()
        assert "Traceback" not in log and "storage not ready" not in log, log[-3000:]


def test_serve_workers_on_sqlite_share_the_checks_and_a_killed_worker_is_replaced(tmp_path, target, hook):
    """`serve --workers 2` on one SQLite file: the workers split the shards, each check is probed
    once per interval; kill -9 of a worker → the supervisor starts another under the same name,
    which takes its shards back, with no check probed twice nor left out."""
    import os
    import re
    import subprocess
    import sys

    config = tmp_path / "pm.yaml"
    paths = [f"c{i}" for i in range(CHECKS)]
    write_config(config, url=f"sqlite:///{tmp_path / 'pm.db'}", target=target, checks=CHECKS, hook_port=hook.port,
                 interval=INTERVAL, lease_ttl=LEASE_TTL, shards=SHARDS)
    target.failing.add("c0")  # its alert must be delivered once, whichever worker holds it and after the kill
    port = free_port()
    while free_port() == port + 1:  # the second worker takes the next port: make it unlikely to be taken
        pass
    log_path = tmp_path / "workers.log"
    started = re.compile(r"worker (\d+) started: pid (\d+)")
    with open(log_path, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "monitor", "serve", "--workers", "2", "--config", str(config), "--port", str(port),
             "--replica-id", "node"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PM_REPLICA": "unused", "HOOK_SECRET": SECRET})
    workers = [Replica(f"w{i}", config, tmp_path) for i in range(2)]
    for i, w in enumerate(workers):
        w.port, w.url = port + i, f"http://127.0.0.1:{port + i}"
    try:
        wait_balanced(workers, SHARDS, timeout=60)
        assert sorted(r["id"] for r in workers[0].replicas()["replicas"]) == ["node-w0", "node-w1"]
        time.sleep(INTERVAL)
        steady = time.time()
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, steady, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst

        wait_for(lambda: hook.events() == [("check:svc/c0", "firing")], timeout=15, what="c0's alert")
        pids = {int(m[1]): int(m[2]) for m in started.finditer(log_path.read_text())}
        killed = time.time()
        os.kill(pids[1], signal.SIGKILL)
        wait_for(lambda: len(started.findall(log_path.read_text())) == 3, timeout=10, what="worker 1 replaced")
        wait_balanced(workers, SHARDS, timeout=40)
        wait_for(lambda: all(target.times(p, killed) for p in paths), timeout=LEASE_TTL + INTERVAL + SLACK,
                 what="every check probed after the kill")
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, killed, time.time(), INTERVAL)
        assert max(worst.values()) == 1, worst
        assert hook.events() == [("check:svc/c0", "firing")] and hook.repeats == []
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def test_a_paused_process_resumes_without_probing_on_its_stale_leases(postgres_url, tmp_path, target, hook):
    """SIGSTOP b (a frozen VM, a long GC pause): a takes b's shards after lease_ttl; SIGCONT b: b
    runs no probe on the leases it lost (its authority ended while it slept), rejoins, and the
    shards are split again; no check probed twice within an interval, no alert sent twice."""
    config = tmp_path / "pm.yaml"
    paths = [f"c{i}" for i in range(CHECKS)]
    write_config(config, url=postgres_url, target=target, checks=CHECKS, hook_port=hook.port, interval=INTERVAL,
                 lease_ttl=LEASE_TTL, shards=SHARDS)
    target.failing.add("c0")
    a, b = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        share_and_fire(a, b, hook)
        paused = time.time()
        b.signal(signal.SIGSTOP)
        wait_for(lambda: (a.me() or {}).get("shards") == SHARDS, timeout=LEASE_TTL + INTERVAL + SLACK,
                 interval=0.2, what="a holding every shard")
        time.sleep(INTERVAL)
        b.signal(signal.SIGCONT)
        wait_balanced([a, b], SHARDS, timeout=30)
        time.sleep(2 * INTERVAL)
        worst = max_probes_per_interval(target, paths, paused - INTERVAL, time.time(), INTERVAL)
        assert max(worst.values()) == 1, worst
        assert hook.events() == [("check:svc/c0", "firing")] and hook.repeats == []
    finally:
        for r in (a, b):
            r.stop()
    for r in (a, b):
        assert "Traceback" not in r.log(), r.log()[-3000:]
