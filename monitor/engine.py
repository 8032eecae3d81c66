"""The engine: wires config → scheduler → runner → state → sinks (storage writer, and later
alerts), and applies a new config in place. Owns the lifecycle of those parts, nothing of HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.heartbeats import ping_reader
from monitor.leases import ShardOwnership
from monitor.ports import EngineStats, WriterStats
from monitor.redact import RedactingFilter, redact_settings
from monitor.remote.contacts import contact_reader
from monitor.remote.quorum import series_id
from monitor.runner import Runner, Sink
from monitor.scheduler import Scheduler
from monitor.state import StateMachine, Transition
from probes.base import CENTRAL, CheckBase, ProbeContext, Result, Status
from probes.clients import ClientPool
from storage import gaps, queries, raw
from storage.db import upgrade
from storage.health import StorageHealth
from storage.writer import Writer

log = logging.getLogger(__name__)


# uvicorn's loggers do not propagate to the root: their handlers get the log filter too
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def check_catalog(checks: list[CheckBase], secrets: dict[str, str]) -> list[dict]:
    """The catalogue rows of `checks` (settings redacted). Pure: safe on any thread."""
    return [
        {"id": c.id, "component": c.component, "name": c.name, "kind": c.kind,
         "settings": redact_settings(c, secrets)}
        for c in checks
    ]


RESTORE_CHUNK = 1000  # check ids per query when restoring states (IN-lists stay short)
RESTORE_WINDOW_MAX = 86400.0
"""Seconds of results read back to rebuild threshold counters: a check with a long interval and high
thresholds still reads at most a day."""
STOP_GRACE = 5.0  # seconds in-flight runs get to finish at shutdown
STARTUP_DB_TIMEOUT = 20.0  # seconds to wait for the database at start before probing without it
STOP_FLUSH_TIMEOUT = 30.0  # seconds the writer gets at shutdown to write what is pending
STOP_FLUSH_TIMEOUT_STORAGE_DOWN = 3.0
"""Seconds it gets when the watchdog says the database is down or hung: waiting longer would
only delay the exit (what is pending is lost either way, and logged)."""


class Engine:
    """One monitoring engine. `db` may be None (the `check` command runs without storage)."""

    def __init__(self, config: Config, *, db: DbEngine | None = None) -> None:
        self.config = config
        self.db = db
        self.state = StateMachine()
        self.clients = ClientPool()
        self.ctx = ProbeContext(logger=logging.getLogger("probes"), clients=self.clients,
                                pings=ping_reader(db) if db is not None else None,
                                contacts=contact_reader(db) if db is not None else None)
        self.writer: Writer | None = None
        self.storage_health: StorageHealth | None = None
        sinks: list[Sink] = []
        if db is not None:
            self.storage_health = StorageHealth(db)
            s = config.storage
            self.writer = Writer(
                db, batch_size=s.batch_size, flush_interval=s.flush_interval, max_buffer=s.max_buffer
            )
            sinks.append(self._store)
        self.runner = Runner(self.state, self.ctx, concurrency=config.engine.concurrency, sinks=sinks,
                             secret_values=config.secret_values)
        # Every log line of the process while the engine runs: the environment's and the
        # receivers' values (a few) and the run-time patterns. Not every check's secrets: one
        # regular expression over 10,000 checks' values would cost more than all the logging;
        # results are redacted per check before they are logged, and so are probe tracebacks.
        self.log_secrets = self._log_secrets()
        self.log_filter = RedactingFilter(lambda: self.log_secrets)
        self._filtered_handlers: list[logging.Handler] = []
        self.ownership = ShardOwnership(config.engine.shards)
        self.scheduler = Scheduler(self._run_by_id, ownership=self.ownership)
        self.is_leader: Callable[[], bool] = lambda: True
        """Whether this process records component history (the service hands the leader lease)."""
        self.may_act: Callable[[], bool] = lambda: True
        """Whether its lease authority still holds (checked before each scheduled run)."""
        self.on_ownership: list[Callable[[set[str], set[str]], object]] = []
        """Called with (check ids newly held, check ids let go) after each change of held shards."""
        self.on_location: Callable[[CheckBase, str, Result], None] | None = None
        """Takes this process's own result of a check run in several locations (the service wires
        the intake, which judges the check from all its locations' results)."""
        self.discovered: dict[str, list[CheckBase]] = {}
        self.checks: dict[str, CheckBase] = self._all_checks()
        self.storage_ready = False
        self.started_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, schedule: bool = True) -> None:
        self._filtered_handlers = self.log_filter.install(logging.getLogger(name) for name in _SERVER_LOGGERS)
        self.state.set_checks(self.checks.values())
        if self.storage_health is not None:
            self.storage_health.start()
        if self.db is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._prepare_storage), STARTUP_DB_TIMEOUT)
            except Exception as exc:
                log.error(
                    "storage not ready (%s): probing anyway; results are buffered until it is",
                    f"{type(exc).__name__}: {exc}".splitlines()[0],
                )
                self.writer.put_task(self._prepare_storage_task)
            self.writer.start()
        if schedule:
            self.schedule()
        self.started_at = time.time()
        log.info("engine started: %d checks in %d components", len(self.checks), len(self.state.components))

    def _run_here(self) -> list[CheckBase]:
        """The checks the service itself runs: those at the `central` location (the others run
        at agents, whose results arrive through the intake)."""
        return [c for c in self.checks.values() if CENTRAL in c.sites]

    def schedule(self) -> None:
        """Start running the checks this process owns (Engine.start does it unless told not to:
        the service first settles which shards it holds)."""
        self.scheduler.sync(self._run_here())
        if not self.scheduler.running:
            self.scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling, let in-flight runs end, flush pending writes."""
        await self.scheduler.stop(STOP_GRACE)
        await self.ctx.aclose()
        if self.writer is not None:
            healthy = self.storage_health is None or self.storage_health.up
            timeout = STOP_FLUSH_TIMEOUT if healthy else STOP_FLUSH_TIMEOUT_STORAGE_DOWN
            await asyncio.to_thread(self.writer.stop, timeout)
        if self.storage_health is not None:
            self.storage_health.stop()
        self.log_filter.uninstall(self._filtered_handlers)
        self._filtered_handlers = []

    def _log_secrets(self) -> dict[str, str]:
        secrets = dict(self.config.secret_values)
        for receiver in self.config.alerts.receivers:
            secrets.update(receiver.secret_values(self.config.secret_values))
        return secrets

    # -- storage -----------------------------------------------------------------------------
    def _prepare_storage(self) -> None:
        upgrade(self.db)
        with Session(self.db) as session, session.begin():
            queries.sync_checks(session, checks=self._catalog(), now=time.time())
        self.state.restore_many(self._read_states(list(self.checks)))
        self.storage_ready = True

    def _read_states(self, check_ids: list[str]) -> list[tuple[str, Status, float, str, list[Status] | None]]:
        """The stored state and recent result statuses of `check_ids` (blocking: a thread), for
        StateMachine.restore_many: at start, and when this process takes a shard over."""
        out = []
        with Session(self.db) as session, session.begin():
            # time nobody probed them (all processes down, the shard unheld) becomes "not monitored"
            # (checks run by agents alone: their silence is judged by the intake, buffered results may fill it)
            gaps.record_gaps(session, now=time.time(), intervals={
                c: self.checks[c].interval for c in check_ids if c in self.checks and CENTRAL in self.checks[c].sites})
            for start in range(0, len(check_ids), RESTORE_CHUNK):
                chunk = check_ids[start:start + RESTORE_CHUNK]
                states = queries.latest_states(session, check_ids=chunk)
                recent = self._recent_statuses(session, chunk)
                out.extend((cid, Status(status), since.timestamp(), reason, recent.get(cid))
                           for cid, (status, since, reason) in states.items())
        return out

    def _recent_statuses(self, session: Session, check_ids: list[str]) -> dict[str, list[Status]]:
        """Each check's last stored result statuses, newest first: as many as its thresholds
        need (results older than that many intervals do not count)."""
        checks = [self.checks[c] for c in check_ids if c in self.checks]
        if not checks:
            return {}
        window = max((max(c.success_threshold, c.failure_threshold) + 1) * c.interval for c in checks)
        start = int((time.time() - min(window, RESTORE_WINDOW_MAX)) * 1000)
        out: dict[str, list[Status]] = {}
        for row in raw.raw_results(session, check_ids=[c.id for c in checks], start=start, newest_first=True):
            out.setdefault(row.check_id, []).append(Status(row.status))
        return out

    async def set_held(self, held: frozenset[int] | None) -> None:
        """Probe the checks of the shards `held` (None: all). Checks newly held get their state and
        counters from storage before their first run here; checks let go leave the schedule at
        once (their runs in flight finish). Then the `on_ownership` callbacks run."""
        before = {cid for cid in self.checks if self.ownership.owns(cid)}
        after = {cid for cid in self.checks if held is None or self.ownership.shard(cid) in held}
        taken, dropped = after - before, before - after
        self.ownership.held = held
        if dropped and self.scheduler.running:
            self.scheduler.sync(self._run_here())
        if taken and self.db is not None:
            try:
                self.state.restore_many(await asyncio.to_thread(self._read_states, sorted(taken)))
            except Exception as exc:  # probe them anyway: a state from scratch beats not probing
                log.warning("restoring the state of %d checks taken over failed (%s); they start unknown",
                            len(taken), f"{type(exc).__name__}: {exc}".splitlines()[0])
        if taken and self.scheduler.running:
            self.scheduler.sync(self._run_here())
        for callback in self.on_ownership:
            callback(taken, dropped)

    def owned_count(self) -> int:
        if self.ownership.held is None:
            return len(self.checks)
        return sum(1 for cid in self.checks if self.ownership.owns(cid))

    def _prepare_storage_task(self, session: Session) -> None:
        upgrade(self.db)
        queries.sync_checks(session, checks=self._catalog(), now=time.time())
        self.storage_ready = True

    def _catalog(self) -> list[dict]:
        return check_catalog(list(self.checks.values()), self.config.secret_values)

    def _store(self, check: CheckBase, result: Result, transitions: list[Transition]) -> None:
        writer = self.writer
        if not result.stored:
            writer.put_result(
                check.id, result.time, result.status.value, result.latency, result.reason, result.details
            )
        for t in transitions:
            if t.kind == "check" or self.is_leader():  # component history: the leader's alone
                writer.put_change(t.kind, t.subject, t.at, t.old.value, t.new.value, t.reason)

    # -- running -----------------------------------------------------------------------------
    async def _run_by_id(self, check_id: str) -> None:
        check = self.checks.get(check_id)
        if check is None or not self.may_act():
            return
        if len(check.sites) == 1 or self.on_location is None:
            await self.runner.run(check)
            return
        result = await self.runner.execute(check)  # this location's view: its own series, then the verdict
        if self.writer is not None:
            self.writer.put_result(series_id(check.id, CENTRAL), result.time, result.status.value, result.latency,
                                   result.reason, result.details)
        if self.checks.get(check_id) is check:
            self.on_location(check, CENTRAL, result)

    async def run_once(self, check_ids: list[str] | None = None) -> dict[str, Result]:
        """Run the given checks (all by default) once, concurrently, recording nothing."""
        chosen = [self.checks[cid] for cid in (list(self.checks) if check_ids is None else check_ids)]
        results = await asyncio.gather(*(self.runner.execute(c) for c in chosen))
        return {c.id: r for c, r in zip(chosen, results, strict=True)}

    # -- reload and discovery ----------------------------------------------------------------
    def _all_checks(self) -> dict[str, CheckBase]:
        checks = self.config.check_by_id()
        for source, found in self.discovered.items():
            for check in found:
                if check.id in checks:
                    log.warning("discovered check %s (from %s) has the id of another check; ignored",
                                check.id, source)
                else:
                    checks[check.id] = check
        return checks

    def _apply_checks(self) -> list[str]:
        """Make the running checks config + discovered: state, schedule and catalogue follow;
        checks that go keep their history (retired), those that stay keep state and counters."""
        self.checks = self._all_checks()
        retired = self.state.set_checks(self.checks.values())
        if self.scheduler.running:
            self.scheduler.sync(self._run_here())
        if self.writer is not None:
            # redacting 10,000 checks' settings costs ~1 s of CPU: the writer's thread does it, not the loop
            checks, secrets = list(self.checks.values()), self.config.secret_values
            self.writer.put_task(
                lambda s: queries.sync_checks(s, checks=check_catalog(checks, secrets), now=time.time())
            )
        return retired

    def set_discovered(self, source: str, checks: list[CheckBase]) -> None:
        """Replace the checks one discovery source contributes (a cluster's nodes, say)."""
        self.discovered[source] = list(checks)
        self._apply_checks()

    def apply_config(self, new: Config) -> list[str]:
        """Switch to `new` in place, keeping state and counters of the checks that stay. Returns
        warnings for settings that need a restart (server, storage, engine)."""
        warnings = [
            f"{section}: changed; restart the service to apply it"
            for section in ("server", "storage", "engine")
            if getattr(new, section) != getattr(self.config, section)
        ]
        self.config = new
        self.runner.set_secret_values(new.secret_values)
        self.log_secrets = self._log_secrets()
        retired = self._apply_checks()
        log.info("config applied: %d checks (%d retired)", len(self.checks), len(retired))
        return warnings

    def stats(self) -> EngineStats:
        """The engine's own figures now, for the metrics collector (memory only, no I/O)."""
        writer, health, sched = self.writer, self.storage_health, self.scheduler
        writer_stats = None
        if writer is not None:
            up = not writer.last_error and (health is None or health.up)
            writer_stats = WriterStats(writer.pending, writer.dropped, writer.rows_written, writer.failures, up)
        return EngineStats(len(self.checks), self.runner.in_flight, tuple(sched.lag_buckets), sched.lag_sum,
                           sched.skipped, writer_stats)

    def on_transition(self, callback: Callable[[CheckBase, Result, list[Transition]], None]) -> None:
        """Add a sink (alerting, live page updates) that sees every run and its transitions."""
        self.runner.sinks.append(callback)
