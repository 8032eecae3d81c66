"""The service: the engine plus its storage engine and config reloading (file change or SIGHUP).
A reload reads and validates in a thread, never on the event loop; any failure of it is a refused
reload (logged with its reason, counted) and the running config stays."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from pydantic import TypeAdapter
from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor.alerts.alerting import Alerting
from monitor.alerts.maintenance_silencer import MaintenanceSilencer
from monitor.alerts.metrics import AlertsCollector, WatchdogCollector
from monitor.alerts.watchdog import Watchdog
from monitor.config import AnyCheck, Config, ConfigError, load_config
from monitor.coordinator import Coordinator
from monitor.discovery import ClusterDiscovery
from monitor.elsewhere import Elsewhere
from monitor.engine import Engine
from monitor.heartbeats import Heartbeats, PingCollector
from monitor.housekeeping import Housekeeping
from monitor.metrics import EngineCollector, HousekeepingCollector, LeaseCollector, build_registry
from monitor.ports import ReloadStats
from monitor.remote.discovered import AgentDiscoveries
from monitor.remote.gateway import Gateway
from monitor.remote.intake import Intake
from monitor.remote.metrics import RemoteCollector
from probes.base import CheckBase
from probes.kube import kube_clients
from storage.db import create_db_engine
from storage.leases import LEADER, lease_name

log = logging.getLogger(__name__)

RELOAD_POLL_INTERVAL = 2.0  # seconds between looks at the config file
RETIRE_TIMEOUT = 3.0  # seconds a clean stop waits to give its leases back before leaving them to expire


class Part(Protocol):
    """A long-running piece beside the engine (alert sender, rollup job, cluster discovery):
    started after the engine, stopped before it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Service:
    """The composition root: builds the engine and every part beside it, handing each the narrow,
    typed views it needs (monitor.ports) and nothing more; owns config reloading and its counters.
    `settle` is a process-level hook (the CLI passes monitor.process.freeze_heap) called once the
    service has started and after each applied reload."""

    def __init__(
        self, config: Config, *, config_path: Path | None = None, db: DbEngine | None = None,
        settle: Callable[[], None] | None = None, adjust: Callable[[Config], Config] | None = None,
    ) -> None:
        self.config_path = config_path
        self.db = db or create_db_engine(config.storage.url)
        self.engine = engine = Engine(config, db=self.db)
        self.reloads = ReloadStats()
        self._settle = settle or (lambda: None)
        self._adjust = adjust or (lambda c: c)
        """The command line's settings (--port, --replica-id), laid over every reloaded config."""
        self._watch: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()  # one reload at a time (the watcher and SIGHUP may race)
        self._sighup_tasks: set[asyncio.Task[bool]] = set()
        self.coordinator = coordinator = Coordinator(
            db=self.db, shards=config.engine.shards, ttl=config.engine.lease_ttl, replica_id=config.engine.replica_id,
            apply=engine.set_held, checks=engine.owned_count,
            busy=lambda: {engine.ownership.shard(cid) for cid in list(engine.scheduler.in_flight)},
        )
        engine.is_leader = lambda: coordinator.leader
        engine.may_act = coordinator.acting
        self.heartbeats = Heartbeats(checks=lambda: engine.checks, run=self._run_if_held, db=self.db)
        discovery = ClusterDiscovery(config=lambda: engine.config, kube=lambda: kube_clients(engine.ctx),
                                     publish=engine.set_discovered)
        self.maintenance = MaintenanceSilencer(self.db)
        self.alerting = Alerting(config=lambda: engine.config, state=engine.state, tasks=engine.writer, db=self.db,
                                 owns=self._owns_alert, guard=self._alert_guard)
        engine.on_ownership.append(lambda _taken, _dropped: self.alerting.ownership_changed())
        self.alerting.extra_silencers.append(self.maintenance)
        engine.on_transition(self.alerting.on_run)
        self.housekeeping = Housekeeping(db=self.db, config=lambda: engine.config, writer=engine.writer,
                                         storage_ready=lambda: engine.storage_ready and coordinator.leader,
                                         elsewhere=lambda: engine.storage_ready and not coordinator.leader)
        ownership = engine.ownership
        self.elsewhere = Elsewhere(
            db=self.db, state=engine.state, owns=ownership.owns, leader=lambda: coordinator.leader,
            all_owned=lambda: ownership.held is None or len(ownership.held) == ownership.shards,
            record=lambda t: engine.writer.put_change(t.kind, t.subject, t.at, t.old.value, t.new.value, t.reason),
        )
        self.gateway = Gateway(db=self.db, config=lambda: engine.config, checks=lambda: engine.checks,
                               shard=ownership.shard)
        self.intake = Intake(
            db=self.db, state=engine.state, checks=lambda: engine.checks, owns=ownership.owns,
            held=lambda: ownership.held, record=engine.runner.record, acting=coordinator.acting,
            changed=lambda t: coordinator.leader and engine.writer.put_change(
                t.kind, t.subject, t.at, t.old.value, t.new.value, t.reason),
        )
        self.intake.has_agents = lambda: bool(engine.config.agents)
        engine.on_location = self.intake.observe
        engine.on_ownership.append(self.intake.ownership_changed)
        agent_discoveries = AgentDiscoveries(db=self.db, config=lambda: engine.config, publish=engine.set_discovered,
                                             parse=TypeAdapter(AnyCheck).validate_python)
        # after alerting: stopped before it, so the sender's clients it borrows are still open
        self.watchdog = Watchdog(config=lambda: engine.config, client_for=self.alerting.sender.client_for,
                                 active=lambda: coordinator.leader)  # issue 11: exactly one process sends it
        self.parts: list[Part] = [discovery, agent_discoveries, self.elsewhere, self.intake, self.maintenance,
                                  self.alerting, self.housekeeping, self.watchdog]
        self.metrics_registry = build_registry(
            EngineCollector(engine.state, engine.stats, self.reloads, owns=engine.ownership.owns,
                            leader=lambda: coordinator.leader),
            LeaseCollector(coordinator),
            PingCollector(self.heartbeats),
            AlertsCollector(self.alerting),
            WatchdogCollector(self.watchdog),
            HousekeepingCollector(self.housekeeping),
            RemoteCollector(self.gateway, self.intake, agents=lambda: [a.name for a in engine.config.agents],
                            checks=lambda: engine.checks, owns=ownership.owns),
        )
        self._fingerprint = self._read_fingerprint()
        self._applied_fingerprint = self._fingerprint  # the file's hash when the running config was read

    # -- shards: what this process acts on ---------------------------------------------------
    async def _run_if_held(self, check: CheckBase) -> object:
        """A heartbeat ping runs its check at once where the check's shard is held; elsewhere the
        ping is stored and the holder judges it at its next run."""
        if self.engine.ownership.owns(check.id):
            return await self.engine.runner.run(check)
        return None

    def _owns_alert(self, key: str) -> bool:
        """Alerts of a check belong to the holder of its shard; a component's to the leader."""
        kind, _, subject = key.partition(":")
        if kind == "check":
            return self.engine.ownership.owns(subject)
        return self.coordinator.leader

    def _alert_guard(self, session: Session, keys: list[str]) -> set[str]:
        """The fencing of alert writes: the keys whose lease (the check's shard, or the leader
        lease) this process still holds with its fence, checked in the writing transaction."""
        names = {key: self._lease_of(key) for key in keys}
        held = self.coordinator.guard(session, sorted(set(names.values())))
        return {key for key, name in names.items() if name in held}

    def _lease_of(self, key: str) -> str:
        kind, _, subject = key.partition(":")
        return lease_name(self.engine.ownership.shard(subject)) if kind == "check" else LEADER

    @property
    def config(self) -> Config:
        """The config in force (the engine's: a reload replaces it)."""
        return self.engine.config

    async def start(self) -> None:
        await self.engine.start(schedule=False)
        await self.coordinator.start()  # which shards this process holds, before anything is probed
        self.engine.schedule()
        for part in self.parts:
            await part.start()
        self._settle()
        if self.config_path is not None:
            self._watch = asyncio.create_task(self._watch_file(), name="config-watch")
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)

    async def stop(self) -> None:
        for task in list(self._sighup_tasks):
            task.cancel()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for part in reversed(self.parts):
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %r failed", part)
        await self.coordinator.stop()
        await self.heartbeats.stop()
        await self.engine.stop()
        with contextlib.suppress(TimeoutError):  # a hung database: the others wait out lease_ttl instead
            await asyncio.wait_for(asyncio.to_thread(self.coordinator.retire), RETIRE_TIMEOUT)
        self.coordinator.close()
        self.db.dispose()

    async def reload(self) -> bool:
        """Load the config file again and apply it; on any failure keep the running config.

        Reading, `${VAR}` expansion and validation run in a thread (a large or hostile file costs
        seconds of CPU); only applying the validated config runs on the loop. Any exception,
        MemoryError and RecursionError included, is a refused reload: logged with the reason,
        counted in `reloads.failure`, and later edits are still picked up."""
        if self.config_path is None:
            return False
        async with self._reloading:
            fingerprint = self._fingerprint  # the file's hash as last looked at, before this read
            try:
                new = await asyncio.to_thread(lambda: self._adjust(load_config(self.config_path)))
            except ConfigError as exc:
                return self._refused(exc.render())
            except Exception as exc:  # a limit we missed or a bug: still only a refused reload
                log.debug("config reload failed", exc_info=True)
                return self._refused(f"{self.config_path}: {type(exc).__name__}: {exc}".splitlines()[0])
            try:
                warnings = self.engine.apply_config(new)
            except Exception as exc:
                log.exception("config reload: applying the new config failed")
                return self._refused(f"{self.config_path}: applying it failed: {type(exc).__name__}: {exc}")
        self.gateway.config_changed()
        self.reloads.success += 1
        self.reloads.last_successful = True
        self.reloads.last_at = time.time()
        self.reloads.last_reason = None
        self._applied_fingerprint = fingerprint
        self._settle()
        for warning in warnings:
            log.warning("config reload: %s", warning)
        return True

    def _refused(self, reason: str) -> bool:
        self.reloads.failure += 1
        self.reloads.last_successful = False
        self.reloads.last_at = time.time()
        self.reloads.last_reason = reason
        log.error("config reload refused, the running config stays:\n%s", reason)
        return False

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.config_path)
        task = asyncio.get_running_loop().create_task(self._reload_on_signal(), name="config-reload")
        self._sighup_tasks.add(task)  # a task nobody holds may be collected before it ends
        task.add_done_callback(self._sighup_tasks.discard)

    async def _reload_on_signal(self) -> bool:
        # the watcher must not reload the same content again
        self._fingerprint = await asyncio.to_thread(self._read_fingerprint)
        return await self.reload()

    def config_file_state(self) -> Literal["applied", "changed", "unreadable"] | None:
        """Whether the config file on disk is what the running config was read from: `applied`,
        `changed` (edited since: not reloaded yet, or refused), `unreadable`; None without a
        file. Reads the file: blocking (call it from a thread)."""
        if self.config_path is None:
            return None
        fingerprint = self._read_fingerprint()
        if fingerprint is None:
            return "unreadable"
        return "applied" if fingerprint == self._applied_fingerprint else "changed"

    def _read_fingerprint(self) -> str | None:
        """The file's SHA-256, read in chunks (a huge file costs no memory here). Blocking."""
        if self.config_path is None:
            return None
        try:
            with self.config_path.open("rb") as file:
                return hashlib.file_digest(file, "sha256").hexdigest()
        except OSError:
            return None

    async def _watch_file(self) -> None:
        """Poll the file's hash; a change is reloaded once (a refused file is not retried until it
        changes again). Nothing but cancellation ends this loop."""
        while True:
            await asyncio.sleep(RELOAD_POLL_INTERVAL)
            try:
                fingerprint = await asyncio.to_thread(self._read_fingerprint)
                if fingerprint is not None and fingerprint != self._fingerprint:
                    self._fingerprint = fingerprint
                    log.info("config file changed: reloading %s", self.config_path)
                    await self.reload()
            except Exception:
                log.exception("config watcher: unexpected error; watching on")
