"""The runner: runs one check once under the global concurrency bound and a hard timeout, times
it, feeds the state machine and hands the outcome to the sinks. Owns timing; probes do not."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from monitor.state import StateMachine, Transition
from probes import PROBES
from probes.base import CheckBase, ProbeContext, Result, format_duration

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Receives every finished run (storage, alerting, live updates). Must not block: it runs
    on the event loop between probes."""

    def __call__(self, check: CheckBase, result: Result, transitions: list[Transition]) -> None: ...


class Runner:
    def __init__(
        self, state: StateMachine, ctx: ProbeContext, *, concurrency: int, sinks: Iterable[Sink] = ()
    ) -> None:
        self.state = state
        self.ctx = ctx
        self.sinks: list[Sink] = list(sinks)
        self._bound = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.clock: Callable[[], float] = time.time

    async def execute(self, check: CheckBase) -> Result:
        """Run the check's probe once and return its result, without recording anything."""
        probe = PROBES[check.kind].probe
        async with self._bound:
            self.in_flight += 1
            started = self.clock()
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(check.timeout) as deadline:
                    result = await probe(check, self.ctx)
            except TimeoutError:
                if deadline.expired():
                    result = Result.down(f"timeout after {format_duration(check.timeout)}")
                else:
                    result = Result.down("timeout (inside the probe)")
            except Exception as exc:  # a probe bug must not stop the check's schedule
                log.exception("probe %s raised for check %s", check.kind, check.id)
                result = Result.down(f"probe error: {type(exc).__name__}: {exc}"[:300])
            finally:
                self.in_flight -= 1
            elapsed = time.perf_counter() - t0
        # storage keeps whole microseconds (storage/packing.py packs them as integers): so does memory
        result.latency = round(elapsed if result.latency is None else result.latency, 6)
        result.time = round(started, 3)  # storage keeps milliseconds: memory agrees with it
        return result

    async def run(self, check: CheckBase) -> Result:
        """Run once, update the state, and give the outcome to every sink."""
        result = await self.execute(check)
        transitions = self.state.apply(check.id, result)
        for transition in transitions:
            log.info(
                "%s %s: %s → %s (%s)",
                transition.kind,
                transition.subject,
                transition.old,
                transition.new,
                transition.reason,
            )
        for sink in self.sinks:
            try:
                sink(check, result, transitions)
            except Exception:
                log.exception("result sink %r failed for %s", sink, check.id)
        return result
