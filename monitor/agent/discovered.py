"""What the agent's cluster discovery found, told to the centre (`POST /api/v1/agent/discovered`):
the latest check list of each source, sent until the centre answered, retried with backoff. The
settings go redacted: the centre catalogues these checks, it never runs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from monitor.agent.link import Backoff, Link, Outcome, delay_after
from monitor.redact import redact_settings
from probes.base import CheckBase

log = logging.getLogger(__name__)

_FINAL = (403, 404, 413, 422)


class DiscoveredReporter:
    """`publish` is ClusterDiscovery's callback: the engine runs the checks at once (`run`), and
    the source's latest list waits here until the centre took it (or refused the source)."""

    def __init__(self, *, link: Link, run: Callable[[str, list[CheckBase]], None],
                 secrets: Callable[[], Mapping[str, str]]) -> None:
        self._link = link
        self._run = run
        self._secrets = secrets
        self._pending: dict[str, list[CheckBase]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def publish(self, source: str, checks: list[CheckBase]) -> None:
        self._run(source, checks)
        self._pending[source] = list(checks)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="agent-discovered")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        backoff = Backoff()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                source, checks = next(iter(self._pending.items()))
                secrets = dict(self._secrets())
                answer = await self._link.discovered(source, [redact_settings(c, secrets) for c in checks])
                # refused (403: not a cluster here), too large, malformed, or a centre without the
                # endpoint (404): sending the same list again would not change the answer
                if answer.outcome is Outcome.OK or answer.status in _FINAL:
                    if answer.outcome is not Outcome.OK:
                        log.warning("centre did not take the %d checks of %s (%s)", len(checks), source, answer.reason)
                    if self._pending.get(source) is checks:
                        del self._pending[source]
                    backoff.reset()
                    continue
                delay = delay_after(answer, backoff)
                log.warning("telling the centre the checks of %s failed (%s); retrying in %.0fs", source,
                            answer.reason, delay)
                await asyncio.sleep(delay)
