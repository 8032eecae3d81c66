"""Persistence: SQLAlchemy models, the batched writer, the read queries, Alembic migrations.
Knows nothing of probes, scheduling or HTTP; the caller owns engines and transactions."""

from storage.db import create_db_engine, upgrade
from storage.writer import Writer

__all__ = ["Writer", "create_db_engine", "upgrade"]
