"""The sender: delivers queued notifications asynchronously, one worker per receiver (in order,
so a resolution never overtakes its firing), with retries, exponential backoff with jitter and a
per-receiver rate limit, over one shared HTTP client per distinct receiver `tls:` setting. It
only reads rows already committed to the outbox; every outcome is written back through `record`
(the storage writer's thread). Probing never waits on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from monitor.alerts.config import DeliveryConfig
from monitor.alerts.receivers import RECEIVERS, DeliveryError, Notification, ReceiverBase
from monitor.alerts.receivers.base import ReceiverTls
from monitor.alerts.templates import DEFAULT_TEXT, DEFAULT_TITLE, TemplateError, render
from monitor.redact import Redactor
from probes.clients import client_ssl_context

log = logging.getLogger(__name__)

RATE_WINDOW = 60.0  # seconds: rate limits are "messages per minute" over a sliding window
IDLE_RECHECK = 5.0  # seconds a worker with nothing to do sleeps before looking again
ERROR_CHARS = 500
PLAIN_TLS = ReceiverTls()  # receivers without a `tls:` block (apprise) share the default client


@dataclass(slots=True)
class Delivery:
    """One outbox row in memory: an event for one receiver."""

    event_id: str
    receiver: str
    key: str
    payload: Mapping[str, Any]
    created_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0


class Sender:
    """Owns its worker tasks and HTTP clients. `enqueue` is called on the event loop with rows
    that are already durable; `record(event_id, receiver, outcome, attempts, next_at, error)`
    persists each outcome."""

    def __init__(
        self,
        *,
        receivers: Callable[[], Mapping[str, ReceiverBase]],
        delivery: Callable[[], DeliveryConfig],
        record: Callable[..., None],
        secrets: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self._receivers = receivers
        self._delivery = delivery
        self._record = record
        self._secrets = secrets
        self.queues: dict[str, deque[Delivery]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._sent: dict[str, deque[float]] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self._clients: dict[ReceiverTls, httpx.AsyncClient] = {}
        self.last_errors: dict[str, str] = {}
        self.clock: Callable[[], float] = time.time
        self._stopped = False
        self._queued: set[tuple[str, str]] = set()  # (event id, receiver) of every queued item

    @property
    def depth(self) -> dict[str, int]:
        """Receiver → notifications waiting (in memory: no database query)."""
        return {name: len(q) for name, q in self.queues.items()}

    def client_for(self, cfg: ReceiverBase) -> httpx.AsyncClient:
        """The client for this receiver's TLS setting, shared with every receiver that has the
        same one and built on first use. Raises OSError/ValueError when a TLS file cannot be
        read any more (they were checked when the config loaded)."""
        tls = getattr(cfg, "tls", PLAIN_TLS)
        client = self._clients.get(tls)
        if client is None:
            client = self._clients[tls] = _new_client(tls)
        return client

    async def close_unused_clients(self) -> None:
        """Close the clients of TLS settings no configured receiver has any more (after a
        reload). A send still running on one fails and is retried with the new setting."""
        used = {getattr(cfg, "tls", PLAIN_TLS) for cfg in self._receivers().values()}
        unused = [self._clients.pop(tls) for tls in list(self._clients) if tls not in used]
        await asyncio.gather(*(client.aclose() for client in unused))

    async def stop(self) -> None:
        self._stopped = True
        for task in self._workers.values():
            task.cancel()
        for task in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients))

    def enqueue(self, deliveries: Iterable[Delivery]) -> None:
        """Queue committed outbox rows (event loop only). Once stopped, rows stay in the outbox
        for the next start."""
        if self._stopped:
            return
        for item in deliveries:
            if (item.event_id, item.receiver) in self._queued:
                continue  # read again from the outbox by a sync: queued already
            self._queued.add((item.event_id, item.receiver))
            self.queues.setdefault(item.receiver, deque()).append(item)
            self._wake.setdefault(item.receiver, asyncio.Event()).set()
            worker = self._workers.get(item.receiver)
            if worker is None or worker.done():
                self._workers[item.receiver] = asyncio.create_task(
                    self._work(item.receiver), name=f"alert-sender:{item.receiver}"
                )

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Drop the queued notifications whose alert key `keep` refuses (another process owns them
        now and sends them from the outbox). A send in progress finishes."""
        for queue in self.queues.values():
            kept = [item for i, item in enumerate(queue) if i == 0 or keep(item.key)]
            for item in queue:
                if item not in kept:
                    self._queued.discard((item.event_id, item.receiver))
            queue.clear()
            queue.extend(kept)

    def _count(self, receiver: str, outcome: str) -> None:
        self.counts[(receiver, outcome)] = self.counts.get((receiver, outcome), 0) + 1

    async def _work(self, name: str) -> None:
        queue, wake = self.queues[name], self._wake[name]
        while True:
            if not queue:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), IDLE_RECHECK)
                continue
            item = queue[0]
            wait = max(item.next_attempt_at - self.clock(), self._rate_wait(name))
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._attempt(name, item)
            except Exception:  # a receiver bug must not kill the worker: retry later like an error
                log.exception("receiver %s failed on event %s", name, item.event_id)
                self._retry(name, item, "internal error (see the log)")

    def _rate_wait(self, name: str) -> float:
        cfg = self._receivers().get(name)
        limit = getattr(cfg, "rate_limit", None)
        sent = self._sent.setdefault(name, deque())
        now = self.clock()
        while sent and sent[0] <= now - RATE_WINDOW:
            sent.popleft()
        if not limit or len(sent) < limit:
            return 0.0
        return sent[0] + RATE_WINDOW - now

    async def _attempt(self, name: str, item: Delivery) -> None:
        cfg = self._receivers().get(name)
        now = self.clock()
        if cfg is None:
            self._finish(name, item, "dropped", "receiver no longer configured")
            return
        if now - item.created_at > self._delivery().max_age:
            self._finish(name, item, "expired", self.last_errors.get(name) or "not delivered in time")
            return
        try:
            notification = render_for(cfg, item.payload)
        except TemplateError as exc:
            self._finish(name, item, "rejected", f"template error: {exc}")
            return
        item.attempts += 1
        self._sent[name].append(now)
        try:
            client = self.client_for(cfg)
        except (OSError, ValueError) as exc:  # a TLS file changed or went away since the config loaded
            self._retry(name, item, f"TLS settings: {exc}")
            return
        try:
            await asyncio.wait_for(RECEIVERS[cfg.kind].send(cfg, notification, client), cfg.timeout + 1)
        except TimeoutError:
            self._retry(name, item, "timeout")
        except DeliveryError as exc:
            # the receiver's answer may quote its URL's token or our headers back
            reason = Redactor(cfg.secret_values(self._secrets())).text(exc.reason)[:ERROR_CHARS]
            if exc.retryable:
                self._retry(name, item, reason)
            else:
                self._finish(name, item, "rejected", reason)
        else:
            self._finish(name, item, "delivered", None)

    def _finish(self, name: str, item: Delivery, outcome: str, error: str | None) -> None:
        queue = self.queues[name]
        if queue and queue[0] is item:
            queue.popleft()
        self._queued.discard((item.event_id, name))
        self._count(name, outcome)
        if error:
            self.last_errors[name] = error
            log.warning("alert %s to %s: %s (%s)", item.event_id, name, outcome, error)
        else:
            log.info("alert %s (%s %s) delivered to %s", item.event_id, item.payload.get("type"), item.key, name)
        self._record(item.event_id, name, outcome, item.attempts, item.next_attempt_at, error)

    def _retry(self, name: str, item: Delivery, reason: str) -> None:
        self._count(name, "error")
        self.last_errors[name] = reason
        cfg = self._delivery()
        base = min(cfg.max_backoff, cfg.initial_backoff * 2 ** max(0, item.attempts - 1))
        item.next_attempt_at = self.clock() + base / 2 + random.uniform(0, base / 2)  # equal jitter
        log.info("alert %s to %s failed (%s); attempt %d, next in %.1fs", item.event_id, name, reason,
                 item.attempts, item.next_attempt_at - self.clock())
        self._record(item.event_id, name, "pending", item.attempts, item.next_attempt_at, reason)


def render_for(cfg: ReceiverBase, payload: Mapping[str, Any]) -> Notification:
    """The receiver's title and text for this payload (its templates, else the defaults)."""
    template = cfg.template
    title = render((template and template.title) or DEFAULT_TITLE, payload)
    text = render((template and template.text) or DEFAULT_TEXT, payload)
    return Notification(payload=payload, title=title, text=text)


def _new_client(tls: ReceiverTls) -> httpx.AsyncClient:
    """A client with the probes' SSL context for `tls`; `server_name` goes into every request
    as the name for SNI and certificate verification."""
    context = client_ssl_context(
        verify=tls.verify, ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file
    )
    hooks: dict[str, list[Callable[..., Any]]] = {}
    if tls.server_name:
        server_name = tls.server_name

        async def set_server_name(request: httpx.Request) -> None:
            request.extensions["sni_hostname"] = server_name

        hooks["request"] = [set_server_name]
    return httpx.AsyncClient(verify=context, follow_redirects=False, trust_env=False, event_hooks=hooks)
