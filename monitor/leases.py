"""Shards and leases, the pure part: which shard a check is in, each live process's fair share,
and what one lease round should do. No I/O and no clock of its own (times come in as arguments),
so the rules are tested with a fake clock; monitor/coordinator.py runs the rounds against
storage/leases.py.

A round keeps (renews) what this process holds, takes free shards up to its fair share, and gives
back what it holds beyond it in two steps: first the shard is *drained* (its checks leave this
process's schedule, the lease is still renewed), and only in a later round, once none of its
runs is still in flight, is the lease released. So a shard changes hands cleanly: the old holder
stops, then the new one starts, never both at once."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from storage.leases import LEADER, Lease, lease_name

__all__ = ["Authority", "Plan", "fair_share", "plan", "shard_of"]


def shard_of(check_id: str, shards: int) -> int:
    """The check's shard: crc32 of its id mod `shards`. Stable across processes, restarts and
    Python versions (the built-in hash is salted per process)."""
    return zlib.crc32(check_id.encode()) % shards


def fair_share(me: str, live: Iterable[str], shards: int) -> int:
    """How many shards `me` should hold among the live processes: shards // N each, and one more
    for the first shards % N of them in id order (every process computes the same split)."""
    ids = sorted(set(live) | {me})
    base, extra = divmod(shards, len(ids))
    return base + (1 if ids.index(me) < extra else 0)


def _preference(me: str, shard: int) -> int:
    """Rendezvous order: each process tries free shards in its own order, so two processes joining
    together seldom reach for the same rows (the compare-and-set settles it when they do)."""
    # not crc32: it is linear, so two names would order the shards alike
    return int.from_bytes(hashlib.blake2b(f"{me}/{shard}".encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Plan:
    renew: frozenset[int]
    """Shards held now and kept (draining ones included: they are renewed until released)."""
    acquire: tuple[int, ...]
    """Free shards to try to take, in order of preference."""
    drain: frozenset[int]
    """Held shards to stop probing now (beyond the fair share); released in a later round."""
    release: frozenset[int]
    """Drained shards with no run in flight: give their leases back in this round."""
    lost: frozenset[int]
    """Shards this process believed it held that another process holds now."""
    leader: str
    """"renew", "acquire" or "" for the leader lease."""
    target: int


def plan(*, me: str, shards: int, leases: Mapping[str, Lease], live: Sequence[str], now: float,
         held: Iterable[int], draining: Iterable[int] = (), busy: Iterable[int] = ()) -> Plan:
    """What this round does. `held`: the shards this process acts on (with the fences it took
    them with, compared by the caller); `draining`: those it stopped probing; `busy`: shards with a
    run still in flight; `live`: ids of the processes alive by the database's clock."""
    held, draining, busy = set(held), set(draining), set(busy)
    mine = {n for n in range(shards) if (lease := leases.get(lease_name(n))) is not None and lease.holder == me}
    lost = frozenset(held - mine)
    draining &= mine
    release = frozenset(draining - busy)
    active = mine - draining
    target = fair_share(me, live, shards)
    drain: set[int] = set()
    acquire: tuple[int, ...] = ()
    if len(active) > target:
        drain = set(sorted(active, key=lambda n: _preference(me, n))[target:])
    elif len(active) < target:
        free = [n for n in range(shards)
                if (lease := leases.get(lease_name(n))) is not None and lease.holder != me and lease.free(now)]
        free.sort(key=lambda n: _preference(me, n))
        acquire = tuple(free[: target - len(active)])
    leader_lease = leases.get(LEADER)
    leader = ""
    if leader_lease is not None:
        if leader_lease.holder == me:
            leader = "renew"
        elif leader_lease.free(now):
            leader = "acquire"
    return Plan(frozenset(mine - release), acquire, frozenset(drain), release, lost, leader, target)


@dataclass
class Authority:
    """Until when this process may act on its leases without hearing from the database again.

    Each successful round that started at local monotonic time `t` extends it to
    `t + ttl - margin`: the database's expiry is at least `t + ttl` (its clock was read after `t`),
    so this process stops acting on its shards before any other may take them. `margin` covers
    stopping the schedule and in-flight runs. A process that saw no other live process in its last
    successful round is `alone`: nobody can take over from it, so it keeps probing through a
    database outage (buffering, as a single process always has) instead of going blind."""

    ttl: float
    margin: float
    until: float | None = None
    alone: bool = True

    def renewed(self, started: float, others: Sequence[str]) -> None:
        self.until = started + self.ttl - self.margin
        self.alone = not others

    def valid(self, now: float) -> bool:
        """Whether this process may act on the shards it holds at monotonic time `now`."""
        if self.until is None:  # no round has succeeded yet: act only if alone (no one else can)
            return self.alone
        return now < self.until or self.alone


class ShardOwnership:
    """Which checks this process probes: those whose shard it holds. `held` None means every
    check (a lone process before its first lease round, the `check` command, tests); the
    coordinator sets it. The scheduler asks `owns` for each check it syncs."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.held: frozenset[int] | None = None
        self._shard: dict[str, int] = {}

    def shard(self, check_id: str) -> int:
        n = self._shard.get(check_id)
        if n is None:
            n = self._shard[check_id] = shard_of(check_id, self.shards)
        return n

    def owns(self, check_id: str) -> bool:
        return self.held is None or self.shard(check_id) in self.held
