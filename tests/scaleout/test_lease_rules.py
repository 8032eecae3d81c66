"""The pure lease rules (monitor/leases.py) with a fake clock: fair shares, what a round takes,
keeps, drains and releases, lost leases, the leader lease, and the authority deadline."""

from __future__ import annotations

from collections import Counter

from monitor.leases import Authority, ShardOwnership, fair_share, plan, shard_of
from storage.leases import LEADER, Lease, lease_name

SHARDS = 16
TTL = 15.0


def table(holders: dict[int, str], *, expires: float = 100.0, fence: int = 1, leader: str | None = None
          ) -> dict[str, Lease]:
    rows = {lease_name(n): Lease(lease_name(n), holders.get(n), fence if n in holders else 0,
                                 expires if n in holders else None) for n in range(SHARDS)}
    rows[LEADER] = Lease(LEADER, leader, 1 if leader else 0, expires if leader else None)
    return rows


def test_shard_of_is_stable_and_spreads():
    assert shard_of("paas/api", 128) == shard_of("paas/api", 128)  # crc32, not the salted hash()
    counts = Counter(shard_of(f"c/{i}", 128) for i in range(12_800))
    assert len(counts) == 128 and max(counts.values()) < 2 * min(counts.values())


def test_fair_shares_add_up_and_differ_by_at_most_one():
    for n in range(1, 10):
        ids = [f"p{i}" for i in range(n)]
        shares = [fair_share(me, ids, 128) for me in ids]
        assert sum(shares) == 128 and max(shares) - min(shares) <= 1


def test_a_lone_process_takes_every_free_shard_and_the_leadership():
    p = plan(me="a", shards=SHARDS, leases=table({}), live=["a"], now=10.0, held=())
    assert sorted(p.acquire) == list(range(SHARDS)) and p.leader == "acquire" and p.target == SHARDS
    assert not p.drain and not p.release and not p.lost


def test_a_joining_process_takes_only_free_shards_and_the_holder_drains_its_excess():
    leases = table(dict.fromkeys(range(SHARDS), "a"), leader="a")
    joiner = plan(me="b", shards=SHARDS, leases=leases, live=["a", "b"], now=10.0, held=())
    assert joiner.acquire == () and joiner.leader == "" and joiner.target == 8  # nothing free yet
    holder = plan(me="a", shards=SHARDS, leases=leases, live=["a", "b"], now=10.0, held=range(SHARDS))
    assert len(holder.drain) == 8 and holder.release == frozenset() and holder.leader == "renew"
    assert holder.renew == frozenset(range(SHARDS))  # draining shards stay renewed until released
    # next round: the drained shards with a run in flight wait, the others are released
    busy = set(sorted(holder.drain)[:2])
    later = plan(me="a", shards=SHARDS, leases=leases, live=["a", "b"], now=13.0, held=range(SHARDS),
                 draining=holder.drain, busy=busy)
    assert later.release == holder.drain - busy and later.drain == frozenset()
    assert later.renew == frozenset(range(SHARDS)) - later.release


def test_expired_leases_of_a_dead_process_are_free_after_their_expiry_only():
    leases = table({n: "dead" for n in range(8)} | {n: "b" for n in range(8, SHARDS)}, expires=100.0)
    before = plan(me="b", shards=SHARDS, leases=leases, live=["b"], now=99.9, held=range(8, SHARDS))
    assert before.acquire == ()
    after = plan(me="b", shards=SHARDS, leases=leases, live=["b"], now=100.0, held=range(8, SHARDS))
    assert sorted(after.acquire) == list(range(8))


def test_a_lease_taken_by_another_is_lost_and_an_expired_one_nobody_took_is_kept():
    leases = table({0: "b", 1: "a"}, expires=50.0)
    p = plan(me="a", shards=SHARDS, leases=leases, live=["a"], now=60.0, held=[0, 1])
    assert p.lost == frozenset({0})
    assert 1 in p.renew  # expired while cut off, but still ours: nobody else acted on it


def test_joining_processes_prefer_different_free_shards():
    free = table({})
    a = plan(me="a", shards=SHARDS, leases=free, live=["a", "b"], now=1.0, held=())
    b = plan(me="b", shards=SHARDS, leases=free, live=["a", "b"], now=1.0, held=())
    assert len(a.acquire) == len(b.acquire) == 8
    assert len(set(a.acquire) & set(b.acquire)) < 8  # the compare-and-set settles what overlaps


def test_authority_ends_before_the_lease_can_expire_unless_alone():
    auth = Authority(ttl=TTL, margin=5.0)
    assert auth.valid(0.0)  # no round yet: alone until told otherwise
    auth.renewed(100.0, others=["b"])
    assert auth.valid(109.9) and not auth.valid(110.0)  # 100 + 15 - 5
    auth.renewed(103.0, others=["b"])
    assert auth.valid(112.9) and not auth.valid(113.0)
    auth.renewed(120.0, others=[])  # alone: nobody can take over, keep probing through an outage
    assert auth.valid(10_000.0)


def test_ownership_none_owns_all_and_a_set_owns_its_shards():
    own = ShardOwnership(SHARDS)
    assert own.owns("x/y")
    own.held = frozenset({shard_of("x/y", SHARDS)})
    assert own.owns("x/y")
    other = next(f"x/{i}" for i in range(100) if shard_of(f"x/{i}", SHARDS) != shard_of("x/y", SHARDS))
    assert not own.owns(other)
