"""Delivery of the buffer to the centre (`POST /api/v1/agent/results`): a batch of the oldest
results when they wait, an empty one as a heartbeat, and what each answer means for the buffer
(forget, drop refused, halve, wait). Results leave the file only after the centre's 200."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from monitor import __version__
from monitor.agent.assignment import Settings
from monitor.agent.buffer import Buffer, Pending
from monitor.agent.clock import ClockOffset
from monitor.agent.link import Answer, Backoff, Link, Outcome, delay_after

log = logging.getLogger(__name__)

FINAL_PUSH_TIMEOUT = 5.0  # seconds a stop spends pushing what is buffered before it leaves


class Delivery:
    """Pushes `buffer` over `link` per the assignment's `settings`, once a `version` is known.
    `sample` gets every answer (the clock estimate); `wake` says results reached the buffer."""

    def __init__(self, *, buffer: Buffer, link: Link, clock: ClockOffset, settings: Callable[[], Settings],
                 version: Callable[[], str | None], sample: Callable[[Answer], Awaitable[None]], name: str,
                 server: str) -> None:
        self._buffer, self._link, self._clock = buffer, link, clock
        self._settings, self._version, self._sample = settings, version, sample
        self._name, self._server = name, server
        self.batch_size = settings().batch_max  # halved on 413; back to batch_max with new settings
        self.pushes: Counter[str] = Counter()  # by outcome
        self.results_sent = 0
        self.last_ok: float | None = None  # monotonic seconds of the last push the centre accepted
        self._last_push = -math.inf  # monotonic seconds at the end of the last push, whatever its answer
        self._failing = False  # the last push failed (the next accepted one is logged)
        self._refused: list[str] = []  # the checks of the last 403 (logged when they change)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Results reached the buffer, or the assignment changed: look again whether a push is due."""
        self._wake.set()

    def stop(self) -> None:
        """Make `run` return at its next wait, never in the middle of a push: a push cut between
        the centre's 200 and forgetting its results would send them again."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Push until `stop`."""
        backoff = Backoff()
        delay: float | None = None
        while not self._stopping.is_set():
            if delay is None:
                await self._push_due()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                batch, answer = await self._push_once()
                delay = await self._after_push(batch, answer, backoff)
            except Exception:  # a bug or a failing buffer file: logged, and pushing goes on
                log.exception("pushing results failed")
                delay = backoff.next()

    async def _push_due(self) -> None:
        """Return when a push is due: results wait and `push_interval` has passed since the
        last push, or nothing was accepted for `heartbeat_interval` (an empty batch then)."""
        while not self._stopping.is_set():
            self._wake.clear()
            timeout = None
            if self._version() is not None:
                if self._buffer.count:
                    due = self._last_push + self._settings().push_interval
                else:
                    due = (self.last_ok or -math.inf) + self._settings().heartbeat_interval
                timeout = due - time.monotonic()
                if timeout <= 0:
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _push_once(self) -> tuple[list[Pending], Answer]:
        batch = await asyncio.to_thread(self._buffer.oldest, self.batch_size)
        body = {
            "sent_at": self._clock.correct(time.time()),
            "clock_offset": self._clock.offset,
            "config_version": self._version(),
            "agent_version": __version__,
            "buffered": max(self._buffer.count - len(batch), 0),
            "dropped": self._buffer.dropped,
            "results": [p.result for p in batch],
        }
        answer = await self._link.push(body)
        if answer.outcome is Outcome.OK and batch:
            # before anything else: a stop cutting this task now still forgets what the centre has
            await asyncio.shield(asyncio.to_thread(self._buffer.forget, [p.seq for p in batch]))
        self._last_push = time.monotonic()
        self.pushes[answer.outcome.value] += 1
        await self._sample(answer)
        return batch, answer

    async def _after_push(self, batch: list[Pending], answer: Answer, backoff: Backoff) -> float | None:
        """Act on the centre's answer; return the seconds to wait before the next push (None:
        until one is due)."""
        outcome = answer.outcome
        if outcome is Outcome.OK:  # _push_once has forgotten the batch
            self.results_sent += len(batch)
            if self._failing:
                log.info("centre %s answers again: %d results accepted, %d still buffered", self._server,
                         len(batch), self._buffer.count)
            self._failing = False
            backoff.reset()
            self.last_ok = time.monotonic()
            return 0.0 if batch and len(batch) >= self.batch_size and self._buffer.count else None
        if outcome is Outcome.REFUSED:
            refused = sorted(str(c) for c in answer.body["refused"])
            dropped = await asyncio.to_thread(self._buffer.refuse_checks, refused)
            # once per set of checks: the centre refuses each push until this agent fetches its new assignment
            level = logging.DEBUG if refused == self._refused else logging.WARNING
            self._refused = refused
            log.log(level, "centre refused results of %d checks not assigned to agent %s (%s): dropped %d "
                        "buffered results of them", len(refused), self._name, ", ".join(refused[:5]), dropped)
            return 0.0
        if outcome in (Outcome.TOO_LARGE, Outcome.REJECTED) and batch:
            if len(batch) > 1:
                self.batch_size = max(1, len(batch) // 2)
                log.warning("centre would not take %d results (%s): batches of %d now", len(batch), answer.reason,
                            self.batch_size)
            else:
                await asyncio.to_thread(self._buffer.refuse, [batch[0].seq])
                log.error("centre would not take the result of %s at %s even alone (%s): dropped it",
                          batch[0].check, batch[0].result.get("time"), answer.reason)
            return 0.0
        delay = delay_after(answer, backoff)
        self._failing = True
        if outcome is Outcome.UNAUTHORIZED:
            log.error("centre %s refused the token of agent %s (%s): check --token-file or $PM_AGENT_TOKEN and the "
                      "centre's agents: list; results stay buffered (%d), retrying in %.0fs",
                      self._server, self._name, answer.reason, self._buffer.count, delay)
        else:
            log.warning("push to %s failed (%s): %d results buffered, retrying in %.0fs", self._server,
                        answer.reason, self._buffer.count, delay)
        return delay

    async def final_push(self) -> None:
        """At stop: push what is buffered for up to FINAL_PUSH_TIMEOUT; what is left stays in the file."""
        if self._version() is None or not self._buffer.count:
            return
        backoff = Backoff()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FINAL_PUSH_TIMEOUT):
                while self._buffer.count:
                    batch, answer = await self._push_once()
                    if answer.outcome not in (Outcome.OK, Outcome.REFUSED, Outcome.TOO_LARGE, Outcome.REJECTED):
                        log.warning("last push failed (%s)", answer.reason)
                        return
                    await self._after_push(batch, answer, backoff)
