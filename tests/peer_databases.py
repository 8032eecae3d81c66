"""Fixtures for database peers: a fresh PostgreSQL or MariaDB database per test on the server the
environment names (PM_TEST_POSTGRES_URL, PM_TEST_MYSQL_URL; scripts/test.sh sets them), dropped afterwards,
and an emptied Redis database index (PM_TEST_REDIS_URL). They never create or stop servers themselves.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.peers import peer_missing

DB_CONNECT_TIMEOUT = 5  # seconds
POSTGRES_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MYSQL_DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _fresh_database(env_var: str, default: str, what: str) -> Iterator[str]:
    """Create pm_test_<random> on the server named by `env_var`, yield its URL, drop it afterwards."""
    admin_url = make_url(os.environ.get(env_var) or default)
    where = f"{admin_url.host}:{admin_url.port}"
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                               connect_args={"connect_timeout": DB_CONNECT_TIMEOUT})
    except ImportError as exc:
        peer_missing(f"{what} driver for {admin_url.drivername} ({exc}): pip install -e '.[test]'")
    name = f"pm_test_{secrets.token_hex(6)}"
    mysql = admin_url.get_backend_name() == "mysql"
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if mysql else "")))
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        peer_missing(f"{what} at {where} does not answer ({reason}); set {env_var} "
                     "or run `bash scripts/test.sh`, which starts one")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if mysql:
                # DROP would wait on metadata locks held by connections a test left open.
                rows = conn.execute(text("SELECT id FROM information_schema.processlist WHERE db = :db"),
                                    {"db": name})
                for (conn_id,) in rows.fetchall():
                    conn.execute(text(f"KILL {int(conn_id)}"))
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test
    (server: PM_TEST_POSTGRES_URL, default the local trust-auth server)."""
    yield from _fresh_database("PM_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL, "PostgreSQL")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty MariaDB/MySQL database, dropped after the test
    (server: PM_TEST_MYSQL_URL, default the local root account)."""
    yield from _fresh_database("PM_TEST_MYSQL_URL", MYSQL_DEFAULT_URL, "MariaDB/MySQL")


def redis_command(url: str, *args: str | int) -> str | int | None:
    """Run one Redis command (after AUTH and SELECT from the URL) over a raw socket and return its
    reply: simple and bulk strings as str, integers as int, nil as None; an error reply raises."""
    parts = urlsplit(url)
    commands: list[tuple[str | int, ...]] = []
    if parts.password:
        commands.append(("AUTH", parts.username or "default", parts.password))
    if parts.path.strip("/"):
        commands.append(("SELECT", int(parts.path.strip("/"))))
    commands.append(args)
    payload = b"".join(
        f"*{len(cmd)}\r\n".encode() + b"".join(f"${len(str(a).encode())}\r\n{a}\r\n".encode() for a in cmd)
        for cmd in commands
    )
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5) as sock:
        sock.sendall(payload)
        reader = sock.makefile("rb")
        reply: str | int | None = None
        for _ in commands:
            line = reader.readline().decode().rstrip("\r\n")
            kind, rest = line[:1], line[1:]
            if kind == "-" or not kind:
                raise RuntimeError(f"redis {args[0]}: {rest or 'connection closed'}")
            if kind == ":":
                reply = int(rest)
            elif kind == "$":
                reply = None if int(rest) < 0 else reader.read(int(rest) + 2)[:-2].decode()
            else:
                reply = rest
        return reply


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of an emptied Redis database index (1-15) on the server from PM_TEST_REDIS_URL
    (default the local one), flushed again after the test."""
    server = os.environ.get("PM_TEST_REDIS_URL") or REDIS_DEFAULT_URL
    parts = urlsplit(server)
    url = parts._replace(path=f"/{secrets.randbelow(15) + 1}").geturl()
    try:
        redis_command(url, "FLUSHDB")
    except (OSError, RuntimeError) as exc:
        peer_missing(f"Redis at {parts.netloc} does not answer ({exc}); set PM_TEST_REDIS_URL "
                     "or run `bash scripts/test.sh`, which starts one")
    try:
        yield url
    finally:
        redis_command(url, "FLUSHDB")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The test runs once per database: a fresh SQLite file, PostgreSQL and MariaDB databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pm.db'}"
    return request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")


@pytest.fixture
def any_db(any_db_url: str) -> Iterator[Engine]:
    """An Engine on `any_db_url` with the schema migrated to the latest revision."""
    from storage.db import create_db_engine, upgrade

    engine = create_db_engine(any_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()
