"""The agent's composition: fetches its assignment from the centre (long poll), runs it with the
engine, writes every result to the buffer file at once and pushes the buffer in batches; serves
its own /healthz, /readyz and /metrics. Owns the order of start and stop; no database server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from monitor.agent.assignment import Assignment, Settings, parse_assignment
from monitor.agent.buffer import Buffer
from monitor.agent.clock import ClockOffset
from monitor.agent.delivery import Delivery
from monitor.agent.discovered import DiscoveredReporter
from monitor.agent.health import create_app
from monitor.agent.link import Answer, Backoff, Link, Outcome, delay_after
from monitor.agent.metrics import AgentCollector, AgentStats
from monitor.agent.options import AgentOptions
from monitor.config import Config
from monitor.discovery import ClusterDiscovery
from monitor.engine import Engine
from monitor.metrics import EngineCollector, build_registry
from monitor.state import Transition
from probes.base import CheckBase, Result
from probes.kube import kube_clients

log = logging.getLogger(__name__)

LONG_POLL_WAIT = 30.0  # seconds the centre may hold a fetch before answering 304
WRITE_INTERVAL = 0.1
"""Seconds results wait in memory before they are written to the buffer file: what a kill -9 can lose."""
CLOCK_NEWS = 0.1  # seconds: a change of the clock offset this large is logged at INFO (smaller: DEBUG)
PUSH_STOP_WAIT = 5.0  # seconds a stop waits for the push in flight before cutting it
PUSH_STALE_MIN = 30.0  # seconds without an accepted push before the agent is not ready (or 3 heartbeats)
SAME_VERSION_PAUSE = 1.0  # seconds between fetches when a centre answers 200 to an unchanged version at once


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the agent's own handle SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Agent:
    """One agent process. `start` opens the buffer and begins; `stop` ends probing, writes what
    is in memory, pushes for a few seconds (Delivery.final_push) and closes the file."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.link = Link(options.server, options.token, ca_file=options.ca_file)
        self.engine = engine = Engine(Config())
        engine.on_transition(self._on_result)
        self.discovered = DiscoveredReporter(link=self.link, run=engine.set_discovered,
                                             secrets=lambda: engine.config.secret_values)
        self.discovery = ClusterDiscovery(config=lambda: engine.config, kube=lambda: kube_clients(engine.ctx),
                                          publish=self.discovered.publish)
        self.settings = Settings()
        self.version: str | None = None  # of the assignment the engine runs
        self.assignment_problem: str | None = None
        self.clock = ClockOffset()
        self.buffer: Buffer | None = None
        self.delivery: Delivery | None = None
        self.registry = build_registry(AgentCollector(self.stats), EngineCollector(engine.state, engine.stats))
        self.listening: tuple[str, int] | None = None
        self._made: list[dict[str, Any]] = []  # results not yet in the buffer file
        self.results_made = 0  # by this process
        self._seen_version: str | None = None  # the last version fetched, applied or refused
        self._started = time.monotonic()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._http: _Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Start, run until SIGTERM or SIGINT, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
        except BaseException:
            await self.link.aclose()
            raise
        try:
            await stop.wait()
            log.info("stopping: probing ends, %d results in memory go to the buffer file", len(self._made))
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def start(self) -> None:
        """Bind --listen and open the buffer file (OSError, sqlite3.Error: nothing started), then
        start the engine, the loops and the local HTTP server."""
        sock = self._bind() if self.options.listen else None
        try:
            self.buffer = await asyncio.to_thread(Buffer, self.options.buffer_path)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        self.delivery = Delivery(buffer=self.buffer, link=self.link, clock=self.clock, settings=lambda: self.settings,
                                 version=lambda: self.version, sample=self._clock_sample, name=self.options.name,
                                 server=self.options.server)
        await self._restore()
        await self.engine.start()
        await self.discovered.start()
        await self.discovery.start()
        self._tasks = {name: asyncio.create_task(coro, name=f"agent-{name}") for name, coro in (
            ("fetch", self._fetch_loop()), ("write", self._write_loop()), ("push", self.delivery.run()))}
        if sock is not None:
            app = create_app(problems=self.problems, registry=self.registry)
            self._http = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
            self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]), name="agent-http")
        log.info("agent %s: centre %s, buffer %s (%d results waiting)%s", self.options.name, self.options.server,
                 self.options.buffer_path, self.buffer.count,
                 f", listening on {self.listening[0]}:{self.listening[1]}" if self.listening else "")

    def _bind(self) -> socket.socket:
        host, port = self.options.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        self.listening = sock.getsockname()[:2]
        return sock

    async def _restore(self) -> None:
        """What the buffer file kept from the last run: the clock offset, and the assignment (so
        that an agent restarted while the centre is away probes on)."""
        offset, raw = await asyncio.to_thread(lambda: (self.buffer.recall("clock_offset"),
                                                       self.buffer.recall("assignment")))
        if isinstance(offset, int | float):
            self.clock.offset = round(float(offset), 3)  # until the centre's first answer measures it
        if raw:
            try:
                self._use(await asyncio.to_thread(lambda: parse_assignment(json.loads(raw))))
                log.info("running assignment %s kept from the last run until the centre answers", self.version)
            except ValueError as exc:  # json.JSONDecodeError included
                log.warning("the assignment kept in %s is not usable (%s)", self.options.buffer_path, exc)
        await asyncio.to_thread(self._buffer_limit)

    async def stop(self) -> None:
        await _cancel(self._tasks.pop("fetch", None))
        await self.discovery.stop()
        await self.discovered.stop()
        await self.engine.stop()  # runs in flight end; their results join the others in memory
        await _cancel(self._tasks.pop("write", None))
        if (push := self._tasks.pop("push", None)) is not None:
            self.delivery.stop()  # the push in flight ends first (its 200 forgets its results)
            if not (await asyncio.wait({push}, timeout=PUSH_STOP_WAIT))[0]:
                await _cancel(push)  # a hung centre: what it may have stored is sent again, it keeps one
        if self.buffer is not None:
            await self._write()
            await self.delivery.final_push()
            await asyncio.to_thread(self.buffer.close)
            log.info("buffer file closed with %d results waiting (this run: %d results made, %d accepted by the "
                     "centre)", self.buffer.count, self.results_made, self.delivery.results_sent)
        if self._http is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http_task, 5.0)
        await self.link.aclose()

    # -- results -----------------------------------------------------------------------------
    def _on_result(self, check: CheckBase, result: Result, transitions: list[Transition]) -> None:
        """The engine's sink (on the loop): the result, its time on the centre's clock as it is
        estimated now, kept so for good (a re-sent result keeps its time)."""
        self.results_made += 1
        self._made.append({"check": check.id, "time": self.clock.correct(result.time), "status": result.status.value,
                           "latency": result.latency, "reason": result.reason, "details": result.details or None})

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(WRITE_INTERVAL)
            await self._write()

    async def _write(self) -> None:
        if not self._made:
            return
        rows, self._made = self._made, []
        try:
            dropped = await asyncio.to_thread(self.buffer.append, rows)
        except Exception as exc:
            self._made[:0] = rows[-self.buffer.limit:]  # tried again next time; memory bounded like the file
            log.error("writing %d results to %s failed (%s); retrying", len(rows), self.options.buffer_path, exc)
            return
        if dropped:
            log.warning("buffer full (%d results): dropped the %d oldest (%d since the file was created)",
                        self.buffer.limit, dropped, self.buffer.dropped)
        self.delivery.wake()

    async def _clock_sample(self, answer: Answer) -> None:
        server_time = answer.server_time
        if server_time is None or answer.outcome is not Outcome.OK:
            return
        before = self.clock.offset
        if self.clock.add(answer.sent, server_time, answer.received) != before:
            level = logging.INFO if abs(self.clock.offset - before) >= CLOCK_NEWS else logging.DEBUG
            log.log(level, "clock offset from the centre: %+.3fs", self.clock.offset)
            await asyncio.to_thread(self.buffer.remember, "clock_offset", self.clock.offset)

    # -- assignment --------------------------------------------------------------------------
    async def _fetch_loop(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._fetch(backoff)
            except Exception:  # a bug or a failing buffer file: logged, and the loop goes on
                log.exception("fetching the assignment failed")
                await asyncio.sleep(backoff.next())

    async def _fetch(self, backoff: Backoff) -> None:
        """One fetch of the assignment (a long poll once a version is known) and what follows."""
        wait = LONG_POLL_WAIT if self._seen_version else 0.0
        answer = await self.link.fetch(self._seen_version, wait)
        if answer.outcome is Outcome.OK:
            backoff.reset()
            await self._clock_sample(answer)
            same = answer.etag is not None and answer.etag == self._seen_version
            await self._take(answer)
            if same:
                await asyncio.sleep(SAME_VERSION_PAUSE)
        elif answer.outcome is Outcome.NOT_MODIFIED:
            backoff.reset()
        else:
            delay = delay_after(answer, backoff)
            level = logging.ERROR if answer.outcome is Outcome.UNAUTHORIZED else logging.WARNING
            log.log(level, "fetching the checks from %s failed (%s); retrying in %.0fs", self.options.server,
                    answer.reason, delay)
            await asyncio.sleep(delay)

    async def _take(self, answer: Answer) -> None:
        try:  # validating thousands of checks costs CPU: a thread, as the service's reload does
            assignment = await asyncio.to_thread(parse_assignment, answer.body, answer.etag)
        except ValueError as exc:
            self._seen_version = answer.etag
            self.assignment_problem = f"assignment {answer.etag or '(no version)'} not applied: {exc}"
            log.error("%s; the running checks stay", self.assignment_problem)
            return
        if assignment.version == self.version:
            self._seen_version = self.version
            self._apply_settings(assignment.settings)
            return
        try:
            self._use(assignment)
        except Exception as exc:
            self._seen_version = assignment.version
            self.assignment_problem = f"assignment {assignment.version} not applied: {type(exc).__name__}: {exc}"
            log.exception("assignment %s not applied; the running checks stay", assignment.version)
            return
        log.info("assignment %s: %d checks, %d clusters", assignment.version, len(assignment.config.checks),
                 len(assignment.config.clusters))
        await asyncio.to_thread(self._buffer_limit)
        await asyncio.to_thread(lambda: self.buffer.remember("assignment", json.dumps(answer.body)))
        self.delivery.wake()

    def _use(self, assignment: Assignment) -> None:
        for warning in self.engine.apply_config(assignment.config):
            log.warning("assignment %s: %s", assignment.version, warning)
        self.version = self._seen_version = assignment.version
        self.assignment_problem = None
        self._apply_settings(assignment.settings)

    def _apply_settings(self, settings: Settings) -> None:
        if settings != self.settings:
            self.settings = settings
            if self.delivery is not None:
                self.delivery.batch_size = settings.batch_max

    def _buffer_limit(self) -> None:
        """The buffer's bound: the command line's --buffer-max, else the centre's `buffer`. Blocking."""
        dropped = self.buffer.set_limit(self.options.buffer_max or self.settings.buffer)
        if dropped:
            log.warning("buffer bound now %d results: dropped the %d oldest", self.buffer.limit, dropped)

    # -- what it reports ---------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Why the agent is not ready (empty: ready)."""
        found = []
        if self.version is None:
            found.append("no assignment fetched from the centre yet")
        if self.assignment_problem:
            found.append(self.assignment_problem)
        stale = max(PUSH_STALE_MIN, 3 * self.settings.heartbeat_interval)
        last_ok = self.delivery.last_ok if self.delivery is not None else None
        since = time.monotonic() - (last_ok if last_ok is not None else self._started)
        if since > stale:
            found.append(f"no push accepted by the centre for {since:.0f}s" if last_ok is not None
                         else f"no push accepted by the centre since the start ({since:.0f}s ago)")
        offset, skew = self.clock.offset, self.settings.max_clock_skew
        if abs(offset) > skew:
            found.append(f"clock off by {offset:+.3f}s from the centre's (max_clock_skew {skew:g}s)")
        return found

    def stats(self) -> AgentStats:
        buffer, delivery = self.buffer, self.delivery
        return AgentStats(
            buffered=(buffer.count if buffer else 0) + len(self._made), dropped=buffer.dropped if buffer else 0,
            refused=buffer.refused if buffer else 0, pushes=dict(delivery.pushes) if delivery else {},
            results_made=self.results_made, results_sent=delivery.results_sent if delivery else 0,
            clock_offset=self.clock.offset, config_version=self.version, checks=len(self.engine.checks),
        )


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
