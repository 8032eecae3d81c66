"""The lease queries on SQLite, PostgreSQL and MariaDB, with explicit times: compare-and-set
acquisition, expiry, fences that grow only when a lease changes hands, the fencing guard, and a
clean stop."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from storage import leases
from storage.leases import LEADER, Replica, lease_name

TTL = 15.0


def replica(rid: str, now: float, shards: int = 4) -> Replica:
    return Replica(rid, "host", 1, now, now, now + TTL, shards)


def take(db, me: str, names: list[str], now: float) -> dict[str, int]:
    with Session(db) as s, s.begin():
        rows = leases.read_leases(s, lock=True)
        return leases.acquire(s, me=me, leases=rows, names=names, now=now, ttl=TTL)


@pytest.fixture
def db(any_db):
    with Session(any_db) as s, s.begin():
        leases.ensure_leases(s, shards=4)
    return any_db


def test_ensure_creates_each_lease_once(db):
    with Session(db) as s, s.begin():
        leases.ensure_leases(s, shards=4)
        rows = leases.read_leases(s)
    assert sorted(rows) == sorted([lease_name(n) for n in range(4)] + [LEADER])
    assert all(r.holder is None and r.fence == 0 for r in rows.values())


def test_acquire_is_compare_and_set_and_raises_the_fence(db):
    assert take(db, "a", [lease_name(0), lease_name(1)], now=100.0) == {lease_name(0): 1, lease_name(1): 1}
    assert take(db, "b", [lease_name(0), lease_name(2)], now=101.0) == {lease_name(2): 1}  # 0 is a's
    # after expiry (100 + 15) b may take it: the fence moves on
    assert take(db, "b", [lease_name(0)], now=114.9) == {}
    assert take(db, "b", [lease_name(0)], now=115.0) == {lease_name(0): 2}


def test_renewal_keeps_the_fence_and_pushes_expiry(db):
    take(db, "a", [lease_name(0)], now=100.0)
    with Session(db) as s, s.begin():
        leases.renew(s, me="a", names=[lease_name(0)], now=110.0, ttl=TTL)
        leases.renew(s, me="b", names=[lease_name(0)], now=110.0, ttl=TTL)  # not b's: no effect
    assert take(db, "b", [lease_name(0)], now=120.0) == {}
    with Session(db) as s:
        row = leases.read_leases(s)[lease_name(0)]
    assert (row.holder, row.fence, row.expires_at) == ("a", 1, 125.0)


def test_guard_lets_only_the_current_holder_with_its_fence_write(db):
    take(db, "a", [lease_name(0), lease_name(1)], now=100.0)
    take(db, "b", [lease_name(1)], now=200.0)  # a's lease on 1 expired and b took it: fence 2
    with Session(db) as s, s.begin():
        allowed = leases.guard(s, me="a", fences={lease_name(0): 1, lease_name(1): 1})
    assert allowed == {lease_name(0)}  # expired but untaken: still a's, the fence unchanged
    with Session(db) as s, s.begin():
        assert leases.guard(s, me="b", fences={lease_name(1): 1}) == set()  # a stale fence of b's own
        assert leases.guard(s, me="b", fences={lease_name(1): 2}) == {lease_name(1)}


def test_release_and_retire_free_at_once(db):
    take(db, "a", [lease_name(0), lease_name(1), LEADER], now=100.0)
    with Session(db) as s, s.begin():
        leases.heartbeat(s, replica=replica("a", 100.0))
        leases.release(s, me="a", names=[lease_name(0)])
    assert take(db, "b", [lease_name(0)], now=101.0) == {lease_name(0): 2}
    with Session(db) as s, s.begin():
        leases.retire(s, me="a")
    assert take(db, "b", [lease_name(1), LEADER], now=102.0) == {lease_name(1): 2, LEADER: 2}
    with Session(db) as s:
        assert leases.live_replicas(s, now=102.0) == []


def test_replica_rows_update_in_place_and_old_dead_ones_are_pruned(db):
    with Session(db) as s, s.begin():
        leases.heartbeat(s, replica=replica("a", 100.0))
        leases.heartbeat(s, replica=replica("a", 105.0))
        leases.heartbeat(s, replica=replica("old", 0.0))
    with Session(db) as s, s.begin():
        rows = leases.live_replicas(s, now=105.0 + leases.REPLICA_ROWS_KEPT, prune=True)
    assert [(r.id, r.last_renewal) for r in rows] == [("a", 105.0)]


def test_the_database_clock_is_close_to_ours(db):
    import time

    with Session(db) as s:
        assert abs(leases.db_now(s) - time.time()) < 5
