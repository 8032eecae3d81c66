"""Maintenance windows as an alert silencer: a window open for a check or its component stops
notifications (probing and recording go on). Reads the stored windows on a thread now and then;
the silencer call itself does no I/O."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from storage.maintenance import MaintenanceIndex, covers, list_windows

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 15.0  # seconds: how soon a window added through the API silences alerts
LOOKBACK_MS = 3_600_000  # occurrences that began up to an hour ago may still be open
HORIZON_MS = 2 * 86_400_000  # occurrences computed ahead, well past the next refresh


class MaintenanceSilencer:
    """`(labels, at) -> reason | None` over the maintenance windows in storage (config and API)."""

    def __init__(self, db: DbEngine) -> None:
        self.db = db
        self._index: MaintenanceIndex | None = None
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """Reload the windows and their occurrences around now (blocking: call on a thread)."""
        now_ms = int(time.time() * 1000)
        with Session(self.db) as session:
            windows = list_windows(session, include_retired=False)
            for window in windows:
                session.expunge(window)
        self._index = MaintenanceIndex(windows, now_ms - LOOKBACK_MS, now_ms + HORIZON_MS)

    def __call__(self, labels: Mapping[str, str], at: float) -> str | None:
        index = self._index
        component = labels.get("component")
        if not index or component is None:
            return None
        check_id = labels.get("check") if labels.get("subject") != "component" else None
        for window in index.open_at(int(at * 1000)):
            if covers(window, component, check_id):
                return f"maintenance window {window.name}" + (f": {window.reason}" if window.reason else "")
        return None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="maintenance-silencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:  # storage away: keep the last known windows
                log.warning("maintenance windows not refreshed: %s", f"{type(exc).__name__}: {exc}".splitlines()[0])
            await asyncio.sleep(REFRESH_INTERVAL)
