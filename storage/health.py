"""The storage watchdog: one thread pings the database every second on a connection of its own and
keeps a verdict (up, or down with a reason) that /readyz, the storage_up metric and the API read
without touching the database. A ping that hangs (a stopped server's kernel still completes
handshakes and ACKs data, so no socket option notices) is judged by its age, not waited for."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from storage.db import POOL_TIMEOUT, SQLITE_BUSY_TIMEOUT

log = logging.getLogger(__name__)

PING_INTERVAL = 1.0
"""Seconds between the end of a ping and the next: a refused database is seen within this."""
PING_DEADLINE = 2.0
"""Seconds a ping may take before the database counts as hung. A healthy one answers in
milliseconds; 2 s leaves room for a loaded box without keeping a hung database 'up' for long.
A hang is seen within PING_DEADLINE + PING_INTERVAL."""
REASON_LENGTH = 200  # characters of a database error kept in a reason
_UNREACHABLE_WORDS = ("connect", "refused", "server closed", "timed out", "timeout", "lost", "broken pipe",
                      "reset by peer", "no route", "unreachable", "terminating")


def storage_reason(exc: BaseException) -> str:
    """A short reason an operator can act on, from a database error: never the URL or a password
    (driver messages name host and port at most)."""
    if isinstance(exc, sa_exc.TimeoutError):
        return f"no database connection free within {POOL_TIMEOUT:g} s (all busy or waiting on the database)"
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    first = lines[0].strip() if lines else type(orig).__name__
    if "database is locked" in first:
        return f"database is locked (busy for more than {SQLITE_BUSY_TIMEOUT:g} s)"
    if any(word in first.lower() for word in _UNREACHABLE_WORDS):
        return f"database unreachable: {first}"[:REASON_LENGTH]
    return f"database error: {type(orig).__name__}: {first}"[:REASON_LENGTH]


class StorageHealth:
    """Owns its thread and its connection (a pool of its own, built like the engine's: same
    connect arguments and pragmas), so a full or hung application pool does not blind it.
    `reason()` and `up` are cheap and never block."""

    def __init__(self, engine: Engine, *, interval: float = PING_INTERVAL, deadline: float = PING_DEADLINE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.deadline = deadline
        self._clock = clock
        self._pool = engine.pool.recreate()
        self._ping_started: float | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0
        self.failures = 0

    def reason(self) -> str | None:
        """None while the database answers; else why not."""
        started = self._ping_started
        if started is not None and self._clock() - started > self.deadline:
            return f"database did not answer within {self.deadline:g} s"
        return self._error

    @property
    def up(self) -> bool:
        return self.reason() is None

    def start(self) -> None:
        # daemon: a ping hung on a stopped server must never keep the process alive
        self._thread = threading.Thread(target=self._run, name="storage-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging; does not wait for a ping that hangs."""
        self._stop.set()

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            self._ping_started = self._clock()
            try:
                if conn is None:
                    conn = self._pool.connect()
                cursor = conn.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                cursor.close()
                conn.rollback()
                if self._error is not None:
                    log.info("storage answers again")
                self._error = None
            except Exception as exc:
                reason = storage_reason(exc)
                if reason != self._error:
                    log.warning("storage health: %s", reason)
                self._error = reason
                self.failures += 1
                if conn is not None:
                    conn.invalidate()  # a connection that failed once is not trusted again
                    conn = None
            finally:
                self.pings += 1
                self._ping_started = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()
        self._pool.dispose()
