"""The batched writer: results and state changes go into in-memory queues on the event loop and
are written in batches by one thread, so probing never waits on the database. If the database
is away, results are buffered (bounded, overflow counted) and state changes are kept until it
returns; `stop()` flushes what is pending."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.db import insert_ignoring_duplicates
from storage.models import REASON_LENGTH, ComponentChangeRow, ResultRow, StateChangeRow

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 30.0  # seconds between attempts while the database is unreachable


class Writer:
    """Owns its thread. `put_*` are cheap and thread-safe (deque appends); everything else
    happens on the writer thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_buffer: int = 200_000,
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._results: deque[dict[str, Any]] = deque()
        self._changes: deque[tuple[Any, dict[str, Any]]] = deque()
        self._tasks: deque[Callable[[Session], object]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_success: float | None = None
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        """Called on the writer thread with each batch of result rows once it is committed."""

    # -- producer side (event loop) ----------------------------------------------------------
    def put_result(
        self,
        check_id: str,
        ts: float,
        status: str,
        latency: float | None,
        reason: str,
        details: dict[str, Any] | None,
    ) -> None:
        if len(self._results) >= self.max_buffer:
            self._results.popleft()
            self.dropped += 1
        self._results.append(
            {
                "check_id": check_id,
                "ts": ts,
                "status": status,
                "latency": latency,
                "reason": reason[:REASON_LENGTH],
                "details": details or None,
            }
        )
        if len(self._results) >= self.batch_size:
            self._wake.set()

    def put_change(self, kind: str, subject: str, ts: float, old: str, new: str, reason: str) -> None:
        if kind == "check":
            row = {"check_id": subject, "ts": ts, "old": old, "new": new, "reason": reason}
            self._changes.append((StateChangeRow, row))
        else:
            row = {"component": subject, "ts": ts, "old": old, "new": new, "reason": reason}
            self._changes.append((ComponentChangeRow, row))
        self._wake.set()

    def put_task(self, task: Callable[[Session], object]) -> None:
        """Run `task(session)` on the writer thread, in order with the writes, retried until it
        succeeds (catalogue updates after a reload, schema set-up when the database returns)."""
        self._tasks.append(task)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._results) + len(self._changes) + len(self._tasks)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storage-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Flush what is pending (trying for up to `timeout` seconds) and stop the thread."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("writer did not finish within %.0fs; %d rows not written", timeout, self.pending)

    def flush(self) -> None:
        """Write everything pending now, on the calling thread (tests and shutdown paths)."""
        while self.pending:
            self._write_batch()

    # -- writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.0
        while True:
            self._wake.wait(backoff or self.flush_interval)
            self._wake.clear()
            try:
                while self.pending:
                    self._write_batch()
                    if not self._stopping and len(self._results) < self.batch_size and not self._changes:
                        break
                backoff = 0.0
            except Exception as exc:  # the database is away or refused the batch: keep and retry
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                backoff = min(max(backoff * 2, 1.0), RETRY_BACKOFF_MAX)
                log.warning(
                    "storage write failed (%s); %d rows pending, retry in %.0fs",
                    self.last_error,
                    self.pending,
                    backoff,
                )
                continue  # on shutdown too: stop() decides how long to wait for the database
            if self._stopping and not self.pending:
                return

    def _write_batch(self) -> None:
        while self._tasks:
            with Session(self.engine) as session, session.begin():
                self._tasks[0](session)
            self._tasks.popleft()
        results = [self._results.popleft() for _ in range(min(self.batch_size, len(self._results)))]
        changes = [self._changes.popleft() for _ in range(len(self._changes))]
        try:
            with self.engine.begin() as conn:
                if results:
                    conn.execute(insert_ignoring_duplicates(self.engine, ResultRow), results)
                for model in (StateChangeRow, ComponentChangeRow):
                    rows = [row for m, row in changes if m is model]
                    if rows:
                        conn.execute(insert_ignoring_duplicates(self.engine, model), rows)
        except Exception:
            # put them back in their original order, ahead of anything newer
            self._changes.extendleft(reversed(changes))
            self._results.extendleft(reversed(results))
            while len(self._results) > self.max_buffer:
                self._results.popleft()
                self.dropped += 1
            raise
        self.rows_written += len(results) + len(changes)
        self.last_success = time.time()
        self.last_error = None
        for listener in self.listeners:
            listener(results)
