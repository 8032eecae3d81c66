"""Real `serve` processes sharing one database (PostgreSQL, MariaDB, one SQLite file): the checks
are split between them, each probed by one process per interval (counted at the target); after
`kill -9` the survivor takes the shards over, carries the state on (no new unknown → up), and the
firing alert is delivered once across both (counted at the webhook sink)."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from monitor.leases import shard_of
from storage.models import StateChangeRow
from tests.alerts.servers import WebhookReceiver
from tests.peers import free_port
from tests.scaleout.harness import (
    SECRET,
    CountingTarget,
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


@pytest.fixture
def target():
    t = CountingTarget()
    yield t
    t.close()


@pytest.fixture
def hook():
    receiver = WebhookReceiver(SECRET, port=free_port()).start()
    yield receiver
    receiver.stop()


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


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
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
        wait_balanced([a, b], SHARDS)
        time.sleep(INTERVAL)  # the rebalancing's last hand-over settles
        steady = time.time()
        time.sleep(3 * INTERVAL)
        worst = max_probes_per_interval(target, paths, steady, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst  # each probed, by one process
        wait_for(lambda: hook.events() == [("check:svc/c0", "firing")], timeout=15, what="c0's alert")

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
        time.sleep(3 * INTERVAL)
        worst = max_probes_per_interval(target, paths, settled, time.time(), INTERVAL)
        assert max(worst.values()) == 1 and min(worst.values()) == 1, worst

        # the state carried on: no check went back through unknown, and nothing fired again
        assert unknown_changes(url) == before == CHECKS
        assert hook.events() == [("check:svc/c0", "firing")] and hook.repeats == []
        target.failing.discard("c0")  # what fired before the takeover resolves after it, once
        wait_for(lambda: len(hook.events()) == 2, timeout=15, what="c0's resolution")
        assert hook.events()[-1] == ("check:svc/c0", "resolved") and hook.repeats == []
        assert survivor.metric("platform_monitor_shards_owned") == SHARDS
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
        a.start()
        b.start()
        wait_balanced([a, b], SHARDS)
        wait_for(lambda: hook.events() == [("check:svc/c0", "firing")], timeout=15, what="c0's alert")
        time.sleep(INTERVAL)
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
        time.sleep(3 * INTERVAL)
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
