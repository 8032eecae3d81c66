"""The agent's durable buffer: results waiting for the centre, in one SQLite file (WAL), oldest
first, bounded (the oldest beyond the bound are dropped and counted). Blocking: call it from a
thread, never from the event loop. It forgets a result only when told to (after the centre's 200)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LIMIT = 100_000  # results kept while the centre is away (the protocol's default `buffer`)
_IN_CHUNK = 500  # seqs or check ids per IN-list (SQLite allows 999 parameters in old builds)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, check_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS results_check ON results (check_id)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)",
)


@dataclass(frozen=True, slots=True)
class Pending:
    """One buffered result: its place in the buffer and the JSON object the centre gets."""

    seq: int
    check: str
    result: dict[str, Any]


class Buffer:
    """The file at `path` (created 0600: check settings in `meta` carry secrets). `limit` is the
    bound in results; `set_limit` changes it. `count`, `dropped` (overflow since the file was
    created) and `refused` (results the centre refused for checks not assigned here, or would not
    take at all) are kept in memory and, for the two counters, in the file."""

    def __init__(self, path: str | Path, *, limit: int = DEFAULT_LIMIT) -> None:
        self.path = Path(path)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses no commit
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
        self.limit = max(1, limit)
        self._resync()

    def _resync(self) -> None:
        """The figures kept in memory, read from the file (at open, and after a failed write)."""
        self.count = self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        self.dropped = int(self._value("dropped") or 0)
        self.refused = int(self._value("refused") or 0)

    # -- results -----------------------------------------------------------------------------
    def append(self, results: Iterable[dict[str, Any]]) -> int:
        """Add results (each with its `check`) after the others, in one transaction; then drop
        the oldest beyond the limit. Returns how many were dropped."""
        rows = [(r["check"], json.dumps(r, separators=(",", ":"), default=str)) for r in results]
        if not rows:
            return 0
        with self._lock, self._transaction():
            self._db.executemany("INSERT INTO results (check_id, body) VALUES (?, ?)", rows)
            self.count += len(rows)
            return self._trim()

    def set_limit(self, limit: int) -> int:
        """A new bound (the centre's `buffer` setting, or the command line's); drops at once what
        is beyond it. Returns how many were dropped."""
        with self._lock, self._transaction():
            self.limit = max(1, limit)
            return self._trim()

    def _trim(self) -> int:
        excess = self.count - self.limit
        if excess <= 0:
            return 0
        deleted = self._db.execute(
            "DELETE FROM results WHERE seq IN (SELECT seq FROM results ORDER BY seq LIMIT ?)", (excess,)
        ).rowcount
        self.count -= deleted
        self.dropped += deleted
        self._store("dropped", self.dropped)
        return deleted

    def oldest(self, n: int) -> list[Pending]:
        """Up to `n` results, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, check_id, body FROM results ORDER BY seq LIMIT ?", (n,)).fetchall()
        return [Pending(seq, check, json.loads(body)) for seq, check, body in rows]

    def forget(self, seqs: Iterable[int]) -> int:
        """Remove these results (the centre has them). Seqs already gone are ignored."""
        return self._delete("seq", list(seqs), counter=None)

    def refuse(self, seqs: Iterable[int]) -> int:
        """Remove these results because the centre will never take them; they are counted."""
        return self._delete("seq", list(seqs), counter="refused")

    def refuse_checks(self, check_ids: Iterable[str]) -> int:
        """Remove every buffered result of these checks (the centre refused them: not assigned
        to this agent); they are counted."""
        return self._delete("check_id", sorted(set(check_ids)), counter="refused")

    def _delete(self, column: str, keys: list[Any], *, counter: str | None) -> int:
        deleted = 0
        with self._lock, self._transaction():
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start:start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                deleted += self._db.execute(f"DELETE FROM results WHERE {column} IN ({marks})", chunk).rowcount
            self.count -= deleted
            if counter is not None and deleted:
                setattr(self, counter, getattr(self, counter) + deleted)
                self._store(counter, getattr(self, counter))
        return deleted

    # -- what the agent keeps across restarts --------------------------------------------------
    def remember(self, key: str, value: str | float | int) -> None:
        """Keep a value in the file (the last assignment, the last clock offset)."""
        with self._lock, self._transaction():
            self._store(key, value)

    def recall(self, key: str) -> Any:
        """A value kept by `remember`, or None."""
        with self._lock:
            return self._value(key)

    def _value(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _store(self, key: str, value: object) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                         "excluded.value", (key, value))

    def close(self) -> None:
        """Fold the write-ahead log into the file and close it."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT on the autocommit connection; on an exception ROLLBACK, and
        the figures in memory are read again from the file."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._resync()
            raise
        self._db.execute("COMMIT")
