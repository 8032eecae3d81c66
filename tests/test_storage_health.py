"""The storage watchdog (storage/health.py) on a real PostgreSQL behind a proxy that freezes
(a hung server) or refuses (a gone one), and on a SQLite file another process holds locked."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from storage.db import create_db_engine
from storage.health import StorageHealth, storage_reason
from tests.targets import wait_for
from tests.tcpproxy import TcpProxy

DEADLINE = 0.5  # seconds: a short watchdog deadline keeps the test fast
INTERVAL = 0.2


@pytest.fixture
def proxied(postgres_url):
    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    engine = create_db_engine(real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    health = StorageHealth(engine, interval=INTERVAL, deadline=DEADLINE)
    health.start()
    yield proxy, health
    proxy.thaw()
    health.stop()
    proxy.close()
    engine.dispose()


def test_a_frozen_database_is_down_within_deadline_and_interval(proxied):
    proxy, health = proxied
    wait_for(lambda: health.pings >= 2, what="first pings")
    assert health.up and health.reason() is None
    proxy.freeze()
    frozen = time.monotonic()
    wait_for(lambda: not health.up, timeout=5, interval=0.02, what="the hang seen")
    assert time.monotonic() - frozen <= DEADLINE + INTERVAL + 0.3
    assert health.reason() == "database did not answer within 0.5 s"
    started = time.perf_counter()
    for _ in range(1000):
        health.reason()
    assert time.perf_counter() - started < 0.05  # read on every request: must cost nothing
    proxy.thaw()
    wait_for(lambda: health.up, timeout=5, what="up again")


def test_a_refused_database_is_down_with_the_reason(proxied):
    proxy, health = proxied
    wait_for(lambda: health.pings >= 1, what="first ping")
    proxy.stop_listening()
    wait_for(lambda: "refused" in (health.reason() or "").lower(), timeout=5, what="refused")
    assert health.reason().startswith("database unreachable: ")
    proxy.resume_listening()
    wait_for(lambda: health.up, timeout=5, what="up again")


def test_a_locked_sqlite_file_gives_a_reason_naming_the_lock(tmp_path):
    db = tmp_path / "pm.db"
    engine = create_db_engine(f"sqlite:///{db}", connect_args={"timeout": 0.1})
    with engine.begin() as conn:  # the file in WAL mode, as the service leaves it
        conn.execute(text("CREATE TABLE t (i INTEGER)"))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError) as caught, engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert storage_reason(caught.value) == "database is locked (busy for more than 5 s)"
        health = StorageHealth(engine, interval=INTERVAL, deadline=DEADLINE)
        health.start()
        wait_for(lambda: health.pings >= 1, what="a ping")
        assert health.up  # WAL: reads go on beside a writer; the lock shows on writes (503 there)
        health.stop()
    finally:
        holder.close()
        engine.dispose()
