"""The service: the engine plus its storage engine and config reloading (file change or SIGHUP).
An invalid new config is refused with a logged error and the running one stays."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine as DbEngine

from monitor.alerts import Alerting, AlertsCollector
from monitor.alerts.maintenance import MaintenanceSilencer
from monitor.config import Config, ConfigError, load_config
from monitor.discovery import ClusterDiscovery
from monitor.engine import Engine
from monitor.heartbeats import Heartbeats, PingCollector
from monitor.housekeeping import Housekeeping
from monitor.metrics import HousekeepingCollector, build_registry
from storage.db import create_db_engine

log = logging.getLogger(__name__)

RELOAD_POLL_INTERVAL = 2.0  # seconds between looks at the config file


class Part(Protocol):
    """A long-running piece beside the engine (alert sender, rollup job, cluster discovery):
    started after the engine, stopped before it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Service:
    def __init__(
        self, config: Config, *, config_path: Path | None = None, db: DbEngine | None = None
    ) -> None:
        self.config_path = config_path
        self.db = db or create_db_engine(config.storage.url)
        self.engine = Engine(config, db=self.db)
        self.metrics_registry = build_registry(self.engine)
        self.heartbeats = Heartbeats(self.engine, self.db)
        self.metrics_registry.register(PingCollector(self.heartbeats))
        self._watch: asyncio.Task[None] | None = None
        self.parts: list[Part] = [ClusterDiscovery(self.engine)]
        self.maintenance = MaintenanceSilencer(self.db)
        self.alerting = Alerting(self.engine, self.db)
        self.alerting.extra_silencers.append(self.maintenance)
        self.parts += [self.maintenance, self.alerting]
        self.metrics_registry.register(AlertsCollector(self.alerting))
        self.housekeeping = Housekeeping(self)
        self.parts.append(self.housekeeping)
        self.metrics_registry.register(HousekeepingCollector(self.housekeeping))
        self._fingerprint = self._read_fingerprint()

    @property
    def config(self) -> Config:
        return self.engine.config

    async def start(self) -> None:
        await self.engine.start()
        for part in self.parts:
            await part.start()
        if self.config_path is not None:
            self._watch = asyncio.create_task(self._watch_file(), name="config-watch")
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)

    async def stop(self) -> None:
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
        await self.heartbeats.stop()
        await self.engine.stop()
        self.db.dispose()

    def reload(self) -> bool:
        """Load the config file again and apply it; on any error keep the running config."""
        if self.config_path is None:
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.engine.reloads["failure"] += 1
            log.error("config reload refused, the running config stays:\n%s", exc.render())
            return False
        for warning in self.engine.apply_config(new):
            log.warning("config reload: %s", warning)
        return True

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.config_path)
        self._fingerprint = self._read_fingerprint()
        self.reload()

    def _read_fingerprint(self) -> str | None:
        if self.config_path is None:
            return None
        try:
            return hashlib.sha256(self.config_path.read_bytes()).hexdigest()
        except OSError:
            return None

    async def _watch_file(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_POLL_INTERVAL)
            fingerprint = await asyncio.to_thread(self._read_fingerprint)
            if fingerprint is not None and fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                log.info("config file changed: reloading %s", self.config_path)
                self.reload()
