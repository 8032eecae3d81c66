"""The housekeeping part of the service: keeps the rollups up to date, applies retention, and
stores the config file's maintenance windows (at start and after each reload). The database
work runs in a thread; nothing here blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from storage import agents as agent_store
from storage import compaction, maintenance, rollups
from storage.retention import apply_retention
from storage.writer import Writer

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.ports import ConfigSource

log = logging.getLogger(__name__)

ROLLUP_INTERVAL = 300.0  # seconds between rollup runs: the finest grain; a run recomputes the current hour
RETENTION_INTERVAL = 3600.0  # seconds between retention runs: each deletes about an hour of raw results
TICK = 2.0  # seconds between looks at the config (reloads) and at the clock
RETRY_AFTER = 30.0  # seconds before trying again after a failure (the database is away): one warning, not 15


JOBS = ("maintenance_sync", "rollup", "compaction", "retention")  # the `job` label of the housekeeping metrics


class Housekeeping:
    """A Service part. Counters (`runs`, `failures`, `last_error`, `last_report`) say how it goes;
    per job (JOBS): `outcomes` (job, success|failure) → runs, `last_success` (unix seconds),
    `seconds_total`; `rollup_rows` (hourly rows written) and `rows_deleted` (table → rows) since start. In memory,
    for the metrics collector (which must not read the database)."""

    def __init__(self, *, db: DbEngine, config: ConfigSource, writer: Writer | None,
                 storage_ready: Callable[[], bool], elsewhere: Callable[[], bool] = lambda: False) -> None:
        self.db = db
        self._elsewhere = elsewhere
        """Whether another process runs the rollups now (this one is not the leader): results this
        process's writer wrote late are then handed over as a rollup request."""
        self._current = config
        self.writer = writer
        self._storage_ready = storage_ready
        self.backlog = rollups.Backlog()
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_report: rollups.RunReport | None = None
        self.outcomes: dict[tuple[str, str], int] = {}
        self.last_success: dict[str, float] = {}
        self.seconds_total: dict[str, float] = {}
        self.rollup_rows = 0
        self.rows_deleted: dict[str, int] = {}
        self._job = JOBS[0]
        self._synced: Config | None = None
        self._next_rollup = 0.0
        self._next_retention = 0.0
        self._requested = False
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        writer = self.writer
        if writer is not None:
            writer.listeners.append(self.backlog.note)
        self._stop.clear()
        self._loop_ref = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        """Stop after the database step in progress (a long first rollup stops between chunks)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        writer = self.writer
        if writer is not None and self.backlog.note in writer.listeners:
            writer.listeners.remove(self.backlog.note)

    def run_now(self) -> None:
        """Ask for a rollup and retention run now (another one if one is under way); callable from
        any thread."""
        self._requested = True
        if self._loop_ref is not None:
            self._loop_ref.call_soon_threadsafe(self._wake.set)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            if self._elsewhere():
                await self._hand_over()
            elif self._storage_ready():
                try:
                    await self._step()
                except Exception as exc:  # the database is away: try again next tick
                    self.failures += 1
                    self._count(self._job, "failure")
                    self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                    log.warning("housekeeping failed: %s", self.last_error)
                    self._next_rollup = time.monotonic() + RETRY_AFTER
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)
            self._wake.clear()

    def _count(self, job: str, outcome: str, started: float | None = None) -> None:
        self.outcomes[(job, outcome)] = self.outcomes.get((job, outcome), 0) + 1
        if started is not None:
            self.seconds_total[job] = self.seconds_total.get(job, 0.0) + time.perf_counter() - started
        if outcome == "success":
            self.last_success[job] = time.time()

    async def _step(self) -> None:
        config = self._current()
        if config is not self._synced:
            windows = [w.to_fields() for w in config.maintenance]
            self._job, started = "maintenance_sync", time.perf_counter()
            await asyncio.to_thread(self._sync_windows, windows)
            self._count("maintenance_sync", "success", started)
            self._synced = config
        retention = config.retention.to_retention()
        clock = time.monotonic()
        if self._requested or clock >= self._next_rollup:
            requested, self._requested = self._requested, False
            self._job, started = "rollup", time.perf_counter()
            await asyncio.to_thread(self._take_requests)
            self.last_report = await asyncio.to_thread(
                rollups.update, self.db, now=time.time(), backlog=self.backlog,
                raw_retention=retention.raw, stop=self._stop,
            )
            self._count("rollup", "success", started)
            if not self._stop.is_set():
                self._job, started = "compaction", time.perf_counter()
                await asyncio.to_thread(compaction.compact, self.db, now=time.time(), stop=self._stop)
                self._count("compaction", "success", started)
            self.rollup_rows += self.last_report.hours_written
            self._next_rollup = clock + ROLLUP_INTERVAL
            self.runs += 1
            self.last_error = None
            if (requested or clock >= self._next_retention) and not self._stop.is_set():
                self._job, started = "retention", time.perf_counter()
                deleted = await asyncio.to_thread(apply_retention, self.db, now=time.time(),
                                                  retention=retention)
                self._count("retention", "success", started)
                for table, rows in deleted.items():
                    self.rows_deleted[table] = self.rows_deleted.get(table, 0) + rows
                self._next_retention = clock + RETENTION_INTERVAL

    async def _hand_over(self) -> None:
        """Late results this process wrote (its writer drained a backlog after a database outage)
        ask the leader, through the database, to recompute their hours."""
        earliest = self.backlog.take()
        if earliest is None or earliest >= time.time() - rollups.LATE_MARGIN.total_seconds():
            return  # within the window every rollup run recomputes anyway

        def write() -> None:
            with Session(self.db) as session, session.begin():
                agent_store.request_rollups(session, earliest=earliest, now=time.time())

        try:
            await asyncio.to_thread(write)
        except Exception as exc:
            self.backlog.give_back(earliest)
            log.debug("handing late results over to the leader failed (%s); next tick", exc)

    def _take_requests(self) -> None:
        """Results other processes wrote late (an agent's buffer, a writer after an outage) ask for
        their hours to be recomputed: into the backlog this run recomputes from."""
        with Session(self.db) as session, session.begin():
            earliest = agent_store.take_rollup_requests(session)
        if earliest is not None:
            self.backlog.give_back(earliest)

    def _sync_windows(self, windows: list[dict]) -> None:
        with Session(self.db) as session, session.begin():
            maintenance.sync_config_windows(session, windows=windows, now=time.time())
