"""Engines and migrations: one place that knows the three databases' connection quirks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql import Insert

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite gets WAL, a busy timeout and NORMAL sync (safe with WAL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

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
    if parsed.get_backend_name() == "mysql" or parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": 10})
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


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
