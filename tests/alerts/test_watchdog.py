"""The dead man's switch against real receivers on loopback: heartbeats arrive every interval
while the process is the active one and not otherwise, stop with the part, survive receiver
errors, follow reloads, reach a real Alertmanager as `alertname=Watchdog` and keep a second
monitor's heartbeat check up; the service sends them as configured. The part runs with intervals
far below the config's 10 s floor by building its `WatchdogConfig` without validation (`fast`):
the floor protects receivers, not the code."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from prometheus_client import generate_latest

from monitor.alerts.config import WatchdogConfig
from monitor.alerts.metrics import WatchdogCollector
from monitor.alerts.sender import Sender
from monitor.alerts.watchdog import Watchdog
from monitor.api import create_app
from monitor.config import Config, parse_config
from monitor.metrics import build_registry
from tests.alerts.servers import RecordingServer, Request, WebhookReceiver
from tests.peers import free_port
from tests.targets import ServiceThread, wait_for

SECRET = "hook-secret-8c1d"
FAST = 0.2  # seconds between heartbeats in these tests
WITHIN = 15.0  # seconds: the generous bound for anything to happen


def fast(text: str, *, receiver: str | None, interval: float = FAST) -> Config:
    """The config of `text` with a watchdog beating every `interval` to `receiver` (None: off)."""
    config = parse_config(text, env={"HOOK_SECRET": SECRET})
    watchdog = None if receiver is None else WatchdogConfig.model_construct(receiver=receiver, interval=interval)
    return config.model_copy(update={"alerts": config.alerts.model_copy(update={"watchdog": watchdog})})


def receivers_yaml(**urls: str) -> str:
    """`alerts.receivers` naming each URL: `hook*` are signed webhooks, `chat*` Slack, `am*` Alertmanagers."""
    lines = []
    for name, url in urls.items():
        kind = "webhook" if name.startswith("hook") else "slack" if name.startswith("chat") else "alertmanager"
        secret = ', secret: "${HOOK_SECRET}"' if kind == "webhook" else ""
        lines.append(f'    - {{name: {name}, kind: {kind}, url: "{url}"{secret}}}')
    return 'server: {public_url: "https://monitor.example.com"}\nalerts:\n  receivers:\n' + "\n".join(lines) + "\n"


class Source:
    """A config source a test can swap, like a reload does."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self) -> Config:
        return self.config


@asynccontextmanager
async def running(config: Callable[[], Config], active: Callable[[], bool] = lambda: True
                  ) -> AsyncIterator[Watchdog]:
    sender = Sender(receivers=lambda: config().alerts.receiver_by_name(), delivery=lambda: config().alerts.delivery,
                    record=lambda *args: None)
    watchdog = Watchdog(config=config, client_for=sender.client_for, active=active)
    await watchdog.start()
    try:
        yield watchdog
    finally:
        await watchdog.stop()
        await sender.stop()


async def eventually(predicate: Callable[[], object], what: str, within: float = WITHIN) -> object:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def metrics_text(watchdog: Watchdog) -> str:
    return generate_latest(build_registry(WatchdogCollector(watchdog))).decode()


async def test_heartbeats_arrive_every_interval_in_the_alert_schema_and_stop_with_the_part():
    hook = WebhookReceiver(SECRET).start()
    try:
        config = fast(receivers_yaml(hook=f"{hook.url}/hook"), receiver="hook")
        began = time.monotonic()
        async with running(lambda: config) as watchdog:
            await eventually(lambda: watchdog.counts.get(("hook", "delivered"), 0) >= 4, "four heartbeats")
            elapsed = time.monotonic() - began
        # the receiver may have taken one more than was counted when stop() cut its answer short
        assert set(watchdog.counts) == {("hook", "delivered")}
        assert 0 <= len(hook.deliveries) - watchdog.counts[("hook", "delivered")] <= 1
        # one per interval, not a flood (the bound is loose: the event loop may run late, never early)
        assert len(hook.deliveries) <= elapsed / FAST + 2
        first, *later = hook.deliveries.values()
        assert hook.refused == 0 and hook.repeats == []  # signed, and each heartbeat is its own event
        assert first["version"] == "1" and first["status"] == "firing" and first["type"] == "firing"
        assert first["summary"] == "platform-monitor is running; this alert fires for as long as it is alive"
        assert first["alert"]["key"] == "watchdog" and first["alert"]["subject"] == "watchdog"
        assert first["alert"]["labels"] == {"alertname": "Watchdog", "severity": "none", "subject": "watchdog"}
        assert first["links"]["ui"] == "https://monitor.example.com/"
        assert [p["type"] for p in later] == ["reminder"] * len(later)
        assert [p["reminder"] for p in later] == list(range(1, len(later) + 1))
        assert {p["starts_at"] for p in later} == {first["starts_at"]}  # one episode: one start
        assert {p["alert"]["fingerprint"] for p in later} == {first["alert"]["fingerprint"]}

        sent = len(hook.requests)
        await asyncio.sleep(5 * FAST)
        assert len(hook.requests) == sent, "a heartbeat after stop()"
    finally:
        hook.stop()


async def test_only_the_active_process_sends_and_each_active_spell_starts_a_new_episode():
    hook = WebhookReceiver(SECRET).start()
    active = False
    try:
        config = fast(receivers_yaml(hook=f"{hook.url}/hook"), receiver="hook")
        async with running(lambda: config, active=lambda: active) as watchdog:
            await asyncio.sleep(1.5)  # longer than RECHECK: an inactive part would have looked again
            assert hook.requests == [] and watchdog.counts == {}

            active = True
            await eventually(lambda: len(hook.deliveries) >= 2, "heartbeats once active")
            active = False
            await asyncio.sleep(1.5)
            sent = len(hook.deliveries)
            await asyncio.sleep(1.5)
            assert len(hook.deliveries) == sent, "heartbeats while inactive"

            active = True
            await eventually(lambda: len(hook.deliveries) > sent, "heartbeats once active again")
        episodes = [p for p in hook.deliveries.values() if p["type"] == "firing"]
        assert len(episodes) == 2 and episodes[0]["starts_at"] < episodes[1]["starts_at"]
    finally:
        hook.stop()


async def test_a_receiver_error_is_counted_logged_once_and_the_next_heartbeat_still_goes(caplog):
    failing = 3

    def answer(request: Request) -> tuple[int, bytes]:
        if len(sink.requests) <= failing:
            return 503, b'{"error": "busy"}'
        return 200, b"{}"

    sink = RecordingServer(answer).start()
    try:
        config = fast(receivers_yaml(chat=f"{sink.url}/services/T0/B0/tok3n"), receiver="chat")
        with caplog.at_level(logging.INFO, logger="monitor.alerts.watchdog"):
            async with running(lambda: config) as watchdog:
                await eventually(lambda: watchdog.counts.get(("chat", "delivered"), 0) >= 2, "delivered after errors")
                assert watchdog.counts[("chat", "error")] == failing
                text = metrics_text(watchdog)
        assert f'platform_monitor_watchdog_sent_total{{outcome="error",receiver="chat"}} {failing}.0' in text
        assert 'platform_monitor_watchdog_sent_total{outcome="delivered",receiver="chat"}' in text
        [stamp] = [line for line in text.splitlines()
                   if line.startswith("platform_monitor_watchdog_last_success_timestamp_seconds ")]
        assert abs(float(stamp.split()[1]) - time.time()) < WITHIN
        # chat receivers get the rendered message
        assert "platform-monitor is running" in sink.requests[-1].json()["text"]
        messages = [r.getMessage() for r in caplog.records]
        assert messages == ['watchdog: heartbeat to chat failed (HTTP 503: {"error": "busy"}); '
                            "said again only once one is delivered",
                            "watchdog: heartbeat delivered to chat again"]
    finally:
        sink.stop()


async def test_an_unreachable_receiver_is_an_error_not_an_exception():
    port = free_port()  # nothing listens there
    config = fast(receivers_yaml(hook=f"http://127.0.0.1:{port}/hook"), receiver="hook")
    async with running(lambda: config) as watchdog:
        await eventually(lambda: watchdog.counts.get(("hook", "error"), 0) >= 2, "two failed heartbeats")
    assert watchdog.last_success is None and "last_success" not in metrics_text(watchdog)


async def test_a_reload_changes_the_receiver_and_the_interval_and_can_turn_it_off():
    first, second = WebhookReceiver(SECRET).start(), WebhookReceiver(SECRET).start()
    try:
        text = receivers_yaml(hook1=f"{first.url}/hook", hook2=f"{second.url}/hook")
        source = Source(fast(text, receiver="hook1", interval=30.0))
        async with running(source) as watchdog:
            await eventually(lambda: len(first.deliveries) == 1, "the first heartbeat at start")
            # a long interval shortened by a reload takes effect without waiting the old one out
            source.config = fast(text, receiver="hook2")
            await eventually(lambda: len(second.deliveries) >= 3, "heartbeats to the new receiver")
            assert len(first.deliveries) == 1
            assert watchdog.counts[("hook2", "delivered")] >= 3

            source.config = fast(text, receiver=None)
            await asyncio.sleep(1.5)
            sent = len(second.deliveries)
            await asyncio.sleep(1.5)
            assert len(second.deliveries) == sent, "heartbeats with the watchdog removed"
    finally:
        first.stop()
        second.stop()


def am_watchdogs(am) -> list[dict]:
    alerts = httpx.get(f"{am.url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("alertname") == "Watchdog"]


async def test_alertmanager_shows_the_watchdog_firing_and_sees_it_end_once_we_stop(alertmanager):
    config = fast(receivers_yaml(am=alertmanager.url), receiver="am", interval=0.5)
    async with running(lambda: config) as watchdog:
        [alert] = await eventually(lambda: am_watchdogs(alertmanager), "the Watchdog in Alertmanager")
        await eventually(lambda: watchdog.counts.get(("am", "delivered"), 0) >= 2, "a second heartbeat")
    assert alert["labels"] == {"alertname": "Watchdog", "severity": "none", "subject": "watchdog",
                               "kind": "watchdog"}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"].endswith(
        "platform-monitor is running; this alert fires for as long as it is alive")
    # it ends a few intervals after the last heartbeat, not at the receiver's resend_interval
    ends, starts = (datetime.fromisoformat(alert[k].replace("Z", "+00:00")) for k in ("endsAt", "startsAt"))
    assert 0 < (ends - starts).total_seconds() < 60
    await eventually(lambda: not am_watchdogs(alertmanager), "the Watchdog to end after stop()")



def test_the_service_sends_its_first_heartbeat_at_start_and_counts_it(tmp_path):
    hook = WebhookReceiver(SECRET).start()
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
alerts:
  receivers:
    - {{name: hook, kind: webhook, url: "{hook.url}/hook", secret: "${{HOOK_SECRET}}"}}
  watchdog: {{receiver: hook, interval: 1m}}
""", env={"HOOK_SECRET": SECRET})
    svc = ServiceThread(create_app(config), port).start()
    try:
        [payload] = wait_for(lambda: list(hook.deliveries.values()), what="the first heartbeat")
        assert payload["alert"]["key"] == "watchdog" and payload["links"]["ui"] == f"http://127.0.0.1:{port}/"
        wait_for(lambda: 'platform_monitor_watchdog_sent_total{outcome="delivered",receiver="hook"} 1.0'
                 in svc.get("/metrics").text, what="the heartbeat counted in /metrics")
    finally:
        svc.stop()
        hook.stop()


async def test_a_second_monitors_heartbeat_check_is_up_while_heartbeats_come_and_down_once_they_stop(tmp_path):
    token = "wd-peer-7e2b9c4d1a"
    port = free_port()
    peer_config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'peer.db'}", flush_interval: 100ms}}
defaults: {{interval: 200ms, timeout: 200ms}}
checks:
  - {{name: monitor-a, component: monitoring, kind: heartbeat, token: {token}, period: 1s, grace: 1s,
     failure_threshold: 1}}
""")
    peer = await asyncio.to_thread(ServiceThread(create_app(peer_config), port).start)

    def peer_state() -> dict:
        return peer.json("/api/v1/checks/monitoring/monitor-a")["state"]

    try:
        config = fast(receivers_yaml(hook=f"{peer.url}/ping/{token}"), receiver="hook", interval=0.5)
        async with running(lambda: config) as watchdog:
            await eventually(lambda: peer_state()["status"] == "up", "the peer's heartbeat check up")
        assert watchdog.counts.get(("hook", "error"), 0) == 0
        down = await eventually(lambda: (s := peer_state())["status"] == "down" and s, "down once they stop")
        assert down["reason"].startswith("no ping since ")
    finally:
        await asyncio.to_thread(peer.stop)
