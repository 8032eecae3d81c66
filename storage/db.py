"""Engines and migrations: one place that knows the three databases' connection quirks."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql import Insert

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another process's SQLite write lock before 'database is locked':
long enough for a rollup or retention batch to commit, short enough for an API call to answer
503 with the reason instead of hanging (the writer retries on its own)."""
POOL_TIMEOUT = 5.0
"""Seconds to wait for a free pooled connection. With the database hung every pooled connection
can be stuck in a call; later callers fail after this (503 on the API) instead of queueing."""
CONNECT_TIMEOUT = 5  # seconds (whole: libpq's unit) to open a connection to PostgreSQL or MySQL
MYSQL_READ_TIMEOUT = 120
"""Seconds PyMySQL waits for a reply before giving up on the connection: well above our longest
statement (retention and compaction work in batches), so it only ends calls to a hung server.
psycopg has no such client-side timeout: a hung PostgreSQL is left to storage.health."""


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite gets WAL, a busy timeout and NORMAL sync (safe with WAL). Every
    connection attempt, lock wait and pool checkout is bounded (the constants above); a server that
    hangs mid-call is caught by storage.health's watchdog, not here."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_timeout", POOL_TIMEOUT)  # a file gets a QueuePool (memory: one connection)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT})
    elif parsed.get_backend_name() == "mysql":
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": MYSQL_READ_TIMEOUT,
                                           "write_timeout": MYSQL_READ_TIMEOUT})
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


MIGRATION_LOCK = 7_291_604_113  # PostgreSQL advisory lock key: "platform-monitor migrations"
MIGRATION_LOCK_NAME = "platform_monitor_migrations"  # MariaDB GET_LOCK name
MIGRATION_LOCK_WAIT = 300
"""Seconds a process waits for another's migration before giving up (then it says so and starts
on what is there, retrying on the writer's thread): long enough for a big upgrade."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent). Processes starting together migrate once: each
    takes a lock in the database first (PostgreSQL advisory lock, MariaDB GET_LOCK, a lock file
    beside an SQLite file), the others wait for it and then find nothing to do."""
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    name = engine.dialect.name
    if name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        if name == "postgresql":
            conn.execute(text(f"SET statement_timeout = {MIGRATION_LOCK_WAIT * 1000}"))
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        else:
            got = conn.execute(text("SELECT GET_LOCK(:name, :wait)"),
                               {"name": MIGRATION_LOCK_NAME, "wait": MIGRATION_LOCK_WAIT}).scalar()
            if got != 1:
                raise TimeoutError(f"another process held the migration lock for {MIGRATION_LOCK_WAIT}s")
        conn.commit()
        try:
            yield
        finally:
            if name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.execute(text("SET statement_timeout = 0"))
            else:
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": MIGRATION_LOCK_NAME})
            conn.commit()


def insert_ignoring_duplicates(engine: Engine, table: Any) -> Insert:
    """INSERT that skips rows whose key exists already: writes stay idempotent on all three."""
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name in ("mysql", "mariadb"):
        return mysql.insert(table).prefix_with("IGNORE")
    raise ValueError(f"unsupported database {name!r}")
