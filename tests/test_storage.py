"""Storage on all three databases: migrations, idempotent batched writes, catalogue, restore,
and a database that goes away and comes back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import queries
from storage.db import create_db_engine, upgrade
from storage.models import CheckRow, ComponentChangeRow, ResultRow, StateChangeRow
from storage.writer import Writer
from tests.tcpproxy import TcpProxy


@pytest.fixture
def engine(any_db):
    """Every test here runs on SQLite, PostgreSQL and MariaDB (tests/peer_databases.py)."""
    return any_db


def count(engine, model) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_migrations_are_idempotent_and_match_models(engine):
    upgrade(engine)  # second run is a no-op
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert [d for d in diff if d[0] not in ("remove_table",) or d[1].name != "alembic_version"] == []


def test_writer_batches_and_is_idempotent(engine):
    writer = Writer(engine, batch_size=50, flush_interval=0.05)
    now = time.time()
    for i in range(120):
        writer.put_result("c/a", now + i, "up", 0.012, "", {"status_code": 200})
    writer.put_result("c/a", now, "up", 0.012, "", None)  # the same key again: ignored
    writer.put_change("check", "c/a", now, "unknown", "up", "")
    writer.put_change("component", "c", now, "unknown", "up", "c/a: ")
    writer.start()
    deadline = time.time() + 10
    while writer.pending and time.time() < deadline:
        time.sleep(0.02)
    writer.stop()
    assert count(engine, ResultRow) == 120
    assert count(engine, StateChangeRow) == 1 and count(engine, ComponentChangeRow) == 1
    with Session(engine) as s:
        rows = queries.results(s, check_id="c/a", limit=3)
        assert [r.ts.timestamp() for r in rows] == pytest.approx([now + 119, now + 118, now + 117], abs=0.001)
        # exactly: a double on every database (MySQL's FLOAT would read back 0.0120000001)
        assert rows[0].details == {"status_code": 200} and rows[0].latency == 0.012
        assert queries.latest_states(s)["c/a"][0] == "up"
        assert queries.latest_results(s)["c/a"].ts.timestamp() == pytest.approx(now + 119, abs=0.001)


def test_catalogue_retires_and_revives_checks(engine):
    def sync(ids):
        with Session(engine) as s, s.begin():
            items = [{"id": i, "component": i.split("/")[0], "name": i.split("/")[1], "kind": "tcp",
                      "settings": {"port": 1}} for i in ids]
            return queries.sync_checks(s, checks=items, now=time.time())

    assert sync(["c/a", "c/b"]) == []
    assert sync(["c/a"]) == ["c/b"]
    with Session(engine) as s:
        assert s.get(CheckRow, "c/b").retired_at is not None
    sync(["c/a", "c/b"])
    with Session(engine) as s:
        assert s.get(CheckRow, "c/b").retired_at is None


def test_database_outage_buffers_then_writes(postgres_url):
    """The database goes away (its port closes): results are kept, bounded, then written."""
    from sqlalchemy import make_url

    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    try:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        engine = create_db_engine(url, pool_pre_ping=True)
        upgrade(engine)
        writer = Writer(engine, batch_size=10, flush_interval=0.05, max_buffer=30)
        writer.start()
        proxy.stop_listening()
        now = time.time()
        for i in range(40):
            writer.put_result("c/a", now + i, "down", 0.001, "boom", None)
        writer.put_change("check", "c/a", now, "up", "down", "boom")
        deadline = time.time() + 10
        while writer.failures == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert writer.failures >= 1 and writer.last_error
        assert writer.dropped == 10  # 40 results into a 30-row buffer: the 10 oldest counted
        proxy.resume_listening()
        deadline = time.time() + 20
        while writer.pending and time.time() < deadline:
            time.sleep(0.1)
        writer.stop()
        assert writer.pending == 0
        assert count(engine, ResultRow) == 30 and count(engine, StateChangeRow) == 1
        engine.dispose()
    finally:
        proxy.close()
