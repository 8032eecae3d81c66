"""A service part: the checks agents' cluster discovery found (pushed to any process, stored in
`agent_discovered`) become checks of this process's engine, as its own discovery's would, placed
at the agent's location. Every process reads them: each serves the whole API and holds shards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor.remote.placement import depending_on_agents
from probes.base import CheckBase
from storage import agents as agent_store

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 5.0  # seconds between reads: a node an agent found shows this far behind its discovery


class AgentDiscoveries:
    """`publish(source, checks)`: the engine's set_discovered; `parse(settings)`: a check from its
    settings (the config's check union, ValidationError when it is not one)."""

    def __init__(self, *, db: DbEngine, config: Callable[[], Any], publish: Callable[[str, list[CheckBase]], None],
                 parse: Callable[[dict[str, Any]], CheckBase]) -> None:
        self.db = db
        self._config = config
        self._publish = publish
        self._parse = parse
        self._seen: dict[str, Any] = {}  # source → (updated_at, config) last published
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="agent-discoveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            if self._config().agents:
                try:
                    await self.refresh()
                except Exception as exc:
                    log.debug("reading the agents' discovered checks failed: %s", exc)
            await asyncio.sleep(REFRESH_INTERVAL)

    async def refresh(self) -> None:
        def read() -> list:
            with Session(self.db) as session:
                rows = agent_store.discovered(session)
                session.expunge_all()
                return rows

        rows = await asyncio.to_thread(read)
        config = self._config()
        located = {c.name: c.location for c in config.clusters if c.location}
        current = set()
        for row in rows:
            cluster = row.source.split(":")[1] if row.source.count(":") >= 2 else ""
            if located.get(cluster) != row.agent:
                continue  # the cluster moved or went: its checks go too
            current.add(row.source)
            key = (row.updated_at, config)
            if self._seen.get(row.source) == key:
                continue
            self._seen[row.source] = key
            self._publish(row.source, self._checks(row.source, row.agent, row.checks))
        for source in [s for s in self._seen if s not in current]:
            del self._seen[source]
            self._publish(source, [])

    def _checks(self, source: str, agent: str, raw: list[dict[str, Any]]) -> list[CheckBase]:
        out = []
        for item in raw:
            try:
                check = self._parse({**item, "location": agent})
            except ValidationError as exc:
                log.warning("%s (agent %s): a discovered check is not valid here, skipped: %s", source, agent,
                            str(exc).splitlines()[0])
                continue
            out.append(depending_on_agents(check))
        return out
