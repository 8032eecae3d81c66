"""What the other processes observe, a service part: every process serves the whole UI and API,
so the state of each check another process holds is read back from the database (its results and
state changes, a few seconds behind) into this process's state machine. Nothing is written for
those checks here; only the leader records the component changes that follow from them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor.state import StateMachine, Transition
from probes.base import Result, Status
from storage import queries

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 2.0  # seconds between reads: the API shows another process's checks this far behind
LOOKBACK = 5.0
"""Seconds each read reaches back before the newest row it saw last time: a batch may commit after
rows with later times (the writers batch for up to a second). Longer costs every process a read of
every result again: at 50,000 checks a minute, 5 s is ~4,000 rows a read."""
FIRST_LOOKBACK = 3600.0  # seconds of results the first read takes, for checks with long intervals


class Elsewhere:
    """`owns(check_id)`: whether this process probes the check; `leader()`: whether it records
    component history, through `record(transition)`."""

    def __init__(self, *, db: DbEngine, state: StateMachine, owns: Callable[[str], bool],
                 all_owned: Callable[[], bool], leader: Callable[[], bool],
                 record: Callable[[Transition], None]) -> None:
        self.db = db
        self.state = state
        self.owns = owns
        self.all_owned = all_owned
        self.leader = leader
        self.record = record
        self.cursor: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="elsewhere")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            if self.all_owned():
                self.cursor = None  # alone: nothing to read; start afresh when others join
                continue
            try:
                await self.refresh()
            except Exception as exc:
                log.debug("reading other processes' results failed: %s", exc)

    async def refresh(self) -> None:
        """One read and its application (on the loop)."""
        since = (time.time() - FIRST_LOOKBACK) if self.cursor is None else self.cursor - LOOKBACK

        def read() -> tuple[list, list]:
            with Session(self.db) as session:
                return queries.recent_activity(session, since=since)

        results, changes = await asyncio.to_thread(read)
        self.apply(results, changes, now=time.time())

    def apply(self, results: list, changes: list, *, now: float) -> None:
        newest = self.cursor or 0.0
        last: dict[str, Result] = {}
        for row in results:
            newest = max(newest, row.ts.timestamp())
            if not self.owns(row.check_id):
                last[row.check_id] = Result(Status(row.status), row.reason, {}, row.latency, row.ts.timestamp())
        latest_change: dict[str, tuple] = {}
        for row in changes:
            newest = max(newest, row.ts.timestamp())
            if not self.owns(row.check_id):
                latest_change[row.check_id] = row
        items = []
        for cid in set(last) | set(latest_change):
            st = self.state.checks.get(cid)
            if st is None:
                continue
            status, since, reason = st.status, st.since, st.reason
            change = latest_change.get(cid)
            if change is not None and (since is None or change.ts.timestamp() >= since):
                status, since, reason = Status(change.new), change.ts.timestamp(), change.reason
                from_unknown = Status(change.old) == Status.UNKNOWN
            else:
                from_unknown = False
            if since is None:
                continue
            check = st.check
            threshold = check.success_threshold if status == Status.UP else check.failure_threshold
            # its holder shows a first result at once but confirms it only after its threshold
            confirmed = not from_unknown or now - since >= threshold * check.interval
            items.append((cid, status, since, reason, confirmed, last.get(cid)))
        transitions = self.state.observe_elsewhere(items)
        if self.leader():
            for transition in transitions:
                self.record(transition)
        self.cursor = newest or now
