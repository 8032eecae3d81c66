"""The runner: runs one check once under the global concurrency bound and a hard timeout, times
it, redacts the check's secrets from its reason and details, feeds the state machine and hands
the outcome to the sinks. Owns timing and redaction of results; probes do not."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from monitor.redact import Redactor, model_secrets
from monitor.state import StateMachine, Transition
from probes import PROBES
from probes.base import CheckBase, ProbeContext, Result, format_duration

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Receives every finished run (storage, alerting, live updates). Must not block: it runs
    on the event loop between probes."""

    def __call__(self, check: CheckBase, result: Result, transitions: list[Transition]) -> None: ...


class Runner:
    """`secret_values`: the config's environment values → their `${VAR}` spelling (redacted from
    every result besides each check's own secrets)."""

    def __init__(
        self,
        state: StateMachine,
        ctx: ProbeContext,
        *,
        concurrency: int,
        sinks: Iterable[Sink] = (),
        secret_values: Mapping[str, str] | None = None,
    ) -> None:
        self.state = state
        self.ctx = ctx
        self.sinks: list[Sink] = list(sinks)
        self._bound = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.clock: Callable[[], float] = time.time
        self._secret_values: dict[str, str] = dict(secret_values or {})
        self._redactors: dict[str, tuple[CheckBase, Redactor]] = {}

    def set_secret_values(self, secret_values: Mapping[str, str]) -> None:
        """A new config's environment values: every check's redactor is built again on its next run."""
        self._secret_values = dict(secret_values)
        self._redactors.clear()

    def redactor(self, check: CheckBase) -> Redactor:
        """The check's redactor (~30-50 µs to build), built on its first run and again when the
        check object changes (a reload builds new check objects)."""
        entry = self._redactors.get(check.id)
        if entry is None or entry[0] is not check:
            entry = self._redactors[check.id] = (check, Redactor(model_secrets(check, self._secret_values)))
        return entry[1]

    async def execute(self, check: CheckBase) -> Result:
        """Run the check's probe once and return its result (the check's secrets redacted from
        reason and details), without recording anything."""
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
                # the traceback may quote the check's URL or headers: redacted with its secrets
                trace = "".join(traceback.format_exception(exc)).rstrip()
                log.error("probe %s raised for check %s\n%s", check.kind, check.id, self.redactor(check).text(trace))
                result = Result.down(f"probe error: {type(exc).__name__}: {exc}"[:300])
            finally:
                self.in_flight -= 1
            elapsed = time.perf_counter() - t0
        # The one place every result passes before state, storage, alerts, the API and the log:
        # a target that echoes the request must not put the check's credentials in any of them.
        redactor = self.redactor(check)
        result.reason = redactor.text(result.reason)
        if result.details:
            result.details = redactor.data(result.details)
        # storage keeps whole microseconds (storage/packing.py packs them as integers): so does memory
        if result.latency is None and check.timed:
            result.latency = elapsed
        if result.latency is not None:
            result.latency = round(result.latency, 6)
        result.time = round(result.time or started, 3)  # storage keeps milliseconds: memory agrees with it
        return result

    async def run(self, check: CheckBase) -> Result:
        """Run once, update the state, and give the outcome to every sink."""
        return self.record(check, await self.execute(check))

    def record(self, check: CheckBase, result: Result) -> Result:
        """Take a result into the state and give it to every sink: a run's here, or one that came
        from elsewhere (an agent's, or several locations' verdict)."""
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
