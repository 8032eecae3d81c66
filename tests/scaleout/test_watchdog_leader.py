"""The dead man's switch across real `serve` processes on one database: only the leader sends the
heartbeat (one episode at the webhook, not one per process), and after `kill -9` of the leader
the survivor takes the leader lease and starts its own episode."""

from __future__ import annotations

import signal
import time
from datetime import datetime

from tests.alerts.servers import WebhookReceiver
from tests.scaleout.harness import Replica, wait_balanced, write_config
from tests.targets import wait_for

SHARDS = 4
LEASE_TTL = 3.0
HEARTBEAT = 10.0  # seconds: the config's lower bound
SLACK = 5.0  # seconds on top of the promised bounds on a loaded machine


def heartbeats(hook: WebhookReceiver) -> list[dict]:
    with hook._lock:
        return [p for p in hook.deliveries.values() if p["alert"]["key"] == "watchdog"]


def test_only_the_leader_sends_the_watchdog_and_the_survivor_takes_it_over_after_kill_9(tmp_path, target, hook):
    config = tmp_path / "pm.yaml"
    write_config(config, url=f"sqlite:///{tmp_path / 'shared.db'}", target=target, checks=2, hook_port=hook.port,
                 interval=2.0, lease_ttl=LEASE_TTL, shards=SHARDS,
                 extra=f"  watchdog: {{receiver: hook, interval: {HEARTBEAT:.0f}s}}")
    a, b = Replica("a", config, tmp_path), Replica("b", config, tmp_path)
    try:
        a.start()
        b.start()
        wait_balanced([a, b], SHARDS)
        [first] = wait_for(lambda: heartbeats(hook), timeout=SLACK, what="the first heartbeat")
        # the next one comes a heartbeat interval later, from the same process: one episode
        wait_for(lambda: len(heartbeats(hook)) >= 2, timeout=HEARTBEAT + SLACK, what="the second heartbeat")
        beats = heartbeats(hook)
        assert [p["type"] for p in beats] == ["firing", "reminder"], beats
        assert {p["starts_at"] for p in beats} == {first["starts_at"]}

        leader = next(r for r in (a, b) if (r.me() or {}).get("leader"))
        survivor = b if leader is a else a
        killed = time.time()
        leader.signal(signal.SIGKILL)
        leader.process.wait(timeout=10)
        wait_for(lambda: any(p["type"] == "firing" for p in heartbeats(hook)[2:]),
                 timeout=LEASE_TTL + HEARTBEAT + SLACK, what="the survivor's first heartbeat")
        took_over = next(p for p in heartbeats(hook)[2:] if p["type"] == "firing")
        assert took_over["starts_at"] > first["starts_at"]
        assert (survivor.me() or {}).get("leader")
        # once the dead leader's lease has run out, not a heartbeat interval later
        late = datetime.fromisoformat(took_over["event_at"].replace("Z", "+00:00")).timestamp() - killed
        assert late <= LEASE_TTL + SLACK, late
        firing = [p for p in heartbeats(hook) if p["type"] == "firing"]
        assert len(firing) == 2, firing  # one episode per leader, never one per process
    finally:
        for r in (a, b):
            r.stop()
    assert "Traceback" not in survivor.log(), survivor.log()[-3000:]
