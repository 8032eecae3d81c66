"""The dead man's switch (`alerts.watchdog`): while `active` says this process is the one to send
it, an always-firing `Watchdog` alert goes to one receiver every interval, so that a system
outside notices when the monitor is gone. Never written to the outbox and never retried (a missed
heartbeat is simply the next one); it sends through the sender's clients, rendering and receivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from monitor.alerts.config import WatchdogConfig
from monitor.alerts.payload import WATCHDOG_LABELS, build_watchdog_payload
from monitor.alerts.receivers import RECEIVERS, DeliveryError, ReceiverBase, alertmanager
from monitor.alerts.sender import ERROR_CHARS, render_for
from monitor.alerts.templates import TemplateError
from monitor.ports import ConfigSource
from monitor.redact import Redactor

if TYPE_CHECKING:  # for the annotation only (monitor.config imports this package's config)
    from monitor.config import Config

__all__ = ["Watchdog"]

log = logging.getLogger(__name__)

RECHECK = 1.0  # seconds: the longest before a reload (interval, receiver) or a change of `active` is seen
DELIVERED, ERROR = "delivered", "error"


class Watchdog:
    """Sends the heartbeats and keeps their counts for the metrics: `counts` (receiver, outcome)
    → heartbeats, `last_success` (unix seconds). Reads the config through `config` each time.
    `client_for` is the sender's (one HTTP client per receiver `tls:` setting)."""

    def __init__(
        self,
        *,
        config: ConfigSource,
        client_for: Callable[[ReceiverBase], httpx.AsyncClient],
        active: Callable[[], bool],
    ) -> None:
        self._config = config
        self._client_for = client_for
        self._active = active
        self.counts: dict[tuple[str, str], int] = {}
        self.last_success: float | None = None
        self._outcomes: dict[str, str] = {}  # receiver → last outcome: failures are logged per change
        self._started_at: float | None = None  # unix seconds this process began sending (None: not sending)
        self._beats = 0
        self._last_beat = 0.0  # monotonic seconds of the last attempt
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        self._stopped = False
        self._task = asyncio.create_task(self._run(), name="watchdog")

    async def stop(self) -> None:
        self._stopped = True  # the loop ends even if a library swallowed the cancellation
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopped:
            try:
                wait = await self._tick()
            except Exception:  # a bug here must not end the heartbeat for good
                log.exception("watchdog: unexpected error; going on")
                wait = RECHECK
            await asyncio.sleep(wait)

    async def _tick(self) -> float:
        """Send a heartbeat when one is due; the seconds to wait before looking again."""
        config = self._config()
        cfg = config.alerts.watchdog
        if cfg is None or not self._active():
            self._started_at = None  # the next heartbeat, whenever it comes, begins a new episode
            return RECHECK
        now = time.monotonic()
        due = now if self._started_at is None else self._last_beat + cfg.interval
        if now < due:
            return min(due - now, RECHECK)
        self._last_beat = now
        await self._beat(config, cfg)
        return min(cfg.interval, RECHECK)

    async def _beat(self, config: Config, cfg: WatchdogConfig) -> None:
        receiver = config.alerts.receiver_by_name()[cfg.receiver]  # validated: it exists
        now = time.time()
        if self._started_at is None:
            self._started_at, self._beats = now, 0
        server = config.server
        payload = build_watchdog_payload(
            event_id=uuid.uuid4().hex, beat=self._beats, started_at=self._started_at, now=now,
            public_url=server.public_url or f"http://{server.host}:{server.port}",
        )
        self._beats += 1
        try:
            error = await self._send(receiver, payload, cfg.interval, config.secret_values)
        except Exception:  # a receiver bug: counted like a failed heartbeat, the next one still goes
            log.exception("watchdog: sending to %s failed", receiver.name)
            error = "internal error (see the log)"
        self._record(receiver.name, error, now)

    async def _send(self, cfg: Any, payload: Mapping[str, Any], interval: float,
                    env: Mapping[str, str]) -> str | None:
        """Send one heartbeat; None when delivered, else why not (secrets redacted)."""
        try:
            notification = render_for(cfg, payload)
        except TemplateError as exc:
            return f"template error: {exc}"
        try:
            client = self._client_for(cfg)
        except (OSError, ValueError) as exc:  # a TLS file changed or went away since the config loaded
            return f"TLS settings: {exc}"
        if cfg.kind == "alertmanager":
            # Alertmanager's own Watchdog pattern: it sees the alert end a few intervals after the last one
            now = datetime.now(UTC)
            ends = now + timedelta(seconds=interval * alertmanager.ENDS_AT_INTERVALS)
            body = alertmanager.alert(cfg, payload, now=now, title=notification.title, text=notification.text,
                                      alertname=WATCHDOG_LABELS["alertname"], ends_at=ends)
            sending = alertmanager.post(cfg, [body], client)
        else:
            sending = RECEIVERS[cfg.kind].send(cfg, notification, client)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation of stop()
            async with asyncio.timeout(cfg.timeout + 1):
                await sending
        except TimeoutError:
            return "timeout"
        except DeliveryError as exc:
            # the receiver's answer may quote its URL's token or our headers back
            return Redactor(cfg.secret_values(env)).text(exc.reason)[:ERROR_CHARS]
        return None

    def _record(self, receiver: str, error: str | None, now: float) -> None:
        outcome = ERROR if error else DELIVERED
        self.counts[(receiver, outcome)] = self.counts.get((receiver, outcome), 0) + 1
        if error is None:
            self.last_success = now
        previous, self._outcomes[receiver] = self._outcomes.get(receiver), outcome
        if outcome == previous:
            return
        if error:
            log.warning("watchdog: heartbeat to %s failed (%s); said again only once one is delivered",
                        receiver, error)
        else:
            log.info("watchdog: heartbeat delivered to %s%s", receiver, " again" if previous else "")
