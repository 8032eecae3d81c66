"""The agent probe's narrow view of storage: an agent's last contact, read on a thread. All
agents' contacts are read at once and kept for a moment: with many agents, one query a round."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from probes.agent import Contact, ContactReader
from storage import agents as agent_store

__all__ = ["contact_reader", "read_contacts"]

FRESH_FOR = 1.0  # seconds one read of every contact serves the agent checks that run meanwhile


def read_contacts(db: DbEngine) -> dict[str, Contact]:
    """Every agent's last contact (blocking: call it on a thread)."""
    with Session(db) as session:
        rows = agent_store.contacts(session)
    return {r.name: Contact(r.last_seen.timestamp(), r.address, r.clock_offset, r.buffered, r.dropped,
                            r.agent_version, r.config_version) for r in rows}


def contact_reader(db: DbEngine) -> ContactReader:
    cache: dict[str, object] = {"at": 0.0, "contacts": {}}
    lock = asyncio.Lock()

    async def reader(name: str) -> Contact | None:
        async with lock:
            if time.monotonic() - cache["at"] > FRESH_FOR:  # type: ignore[operator]
                cache["contacts"] = await asyncio.to_thread(read_contacts, db)
                cache["at"] = time.monotonic()
        return cache["contacts"].get(name)  # type: ignore[attr-defined]

    return reader
