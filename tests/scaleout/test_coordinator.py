"""The coordinator's refusals, in one process on one SQLite file: a process whose engine.shards
differs from the lease table's while others run takes no shard (the running ones go on), nor does
a second live process under a replica id already in use; each says why (the `problem` that
/readyz and /api/v1/replicas show). Alone, a process may change the number."""

from __future__ import annotations

import asyncio

from monitor.coordinator import Coordinator
from storage.db import create_db_engine, upgrade


def coordinator(db, replica_id: str, shards: int, applied: list) -> Coordinator:
    async def apply(held):
        applied.append(held)

    return Coordinator(db=db, shards=shards, ttl=3.0, replica_id=replica_id, apply=apply, busy=set,
                       checks=lambda: 0)


def test_another_shard_count_and_a_replica_id_in_use_take_no_shard(tmp_path):
    db = create_db_engine(f"sqlite:///{tmp_path / 'pm.db'}")
    upgrade(db)

    async def scenario() -> None:
        first: list = []
        a = coordinator(db, "a", 8, first)
        await a._one_round()
        assert a.active == frozenset(range(8)) and a.problem is None

        other: list = []
        b = coordinator(db, "b", 16, other)
        await b._one_round()
        assert b.active == frozenset() and other == [frozenset()]
        assert b.problem == ("engine.shards is 16 here but the lease table has 8 shards, used by a (8): every "
                             "process sharing one database must use the same; not taking any shard")
        await a._one_round()
        assert a.active == frozenset(range(8)) and a.problem is None  # the running process is not disturbed

        twin_applied: list = []
        twin = coordinator(db, "a", 8, twin_applied)
        twin.process = "another-boot:1:4242:77"  # a live process elsewhere under the same name
        await twin._one_round()
        assert twin.active == frozenset() and "uses the replica id 'a'" in twin.problem
        await a._one_round()
        assert a.active == frozenset(range(8))  # the first keeps its shards

        # with nobody else running, a process may change the number: the table follows it
        await a.stop()
        a.retire()
        b = coordinator(db, "b", 16, other)
        await b._one_round()
        assert b.active == frozenset(range(16)) and b.problem is None

    asyncio.run(scenario())
    db.dispose()
