"""Fixtures of the history tests: a migrated SQLite database per test (the multi-database tests
use the postgres_url/mysql_url fixtures from tests/peer_databases.py)."""

from __future__ import annotations

import pytest

from storage.db import create_db_engine, upgrade


@pytest.fixture
def engine(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'history.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()
