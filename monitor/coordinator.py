"""The lease coordinator, a service part: runs this process's lease rounds against the shared
database (storage/leases.py) following the pure rules of monitor/leases.py, tells the engine which
shards it holds, and knows whether this process is the leader. It also keeps what the others are
doing (the replica rows) for /api/v1/replicas and the metrics.

Rounds run every lease_ttl/5 in a thread, never on the event loop. A watcher on the loop drops
every shard (and the leadership) once the last successful round is older than the authority
margin allows, unless this process is alone (monitor.leases.Authority)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.leases import Authority, plan
from storage import leases
from storage.leases import LEADER, Lease, Replica, lease_name

log = logging.getLogger(__name__)

ROUNDS_PER_TTL = 5  # a round every lease_ttl/5: four rounds may fail before the authority margin ends
AUTHORITY_MARGIN_SHARE = 1 / 3
"""Part of lease_ttl kept between this process giving up its shards and the database letting the
others take them: room to stop the schedule (ms) and for the database's and this host's clocks to
run at slightly different rates. With 15 s: authority ends 10 s after the last successful round's
start, the lease 15 s after it at the earliest."""
WATCH_INTERVAL = 0.25  # seconds between looks at the authority deadline (a stop within ~0.25 s of it)
FIRST_ROUND_TIMEOUT = 20.0  # seconds the first round may take at start before the process goes on alone


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None if no
    such process is visible here. With the pid it names one process for the life of the boot."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode(errors="replace")
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _host_scope() -> str | None:
    """"<boot id>:<pid namespace inode>": processes with the same scope see each other's pids."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            boot = file.read().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def process_identity(pid: int | None = None) -> str:
    """This process's ReplicaRow.process ("" where /proc is not there)."""
    pid = pid or os.getpid()
    scope, start = _host_scope(), _start_time(pid)
    return f"{scope}:{pid}:{start}" if scope and start else ""


def gone_here(identity: str) -> bool:
    """Whether the process `identity` names ran on this host, in this boot and pid namespace, and
    is not running any more (its pid is free or now another process's). Else False: alive, or
    not ours to judge (another host: its lease expiring tells)."""
    scope = _host_scope()
    if not identity or not scope or not identity.startswith(scope + ":"):
        return False
    pid, start = identity[len(scope) + 1:].split(":")
    return _start_time(int(pid)) != start


@dataclass
class LeaseStats:
    """What the metrics and /api/v1/replicas read (memory only)."""

    renewals: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0, "lost": 0})
    replicas: list[Replica] = field(default_factory=list)
    unheld: list[int] = field(default_factory=list)
    db_now: float | None = None
    last_error: str | None = None


class Coordinator:
    """Holds this process's leases. `apply(held)` is the engine's Engine.set_held; `busy()` the
    shards with a run in flight; `checks()` the number of checks this process probes."""

    def __init__(self, *, db: DbEngine, shards: int, ttl: float, replica_id: str | None,
                 apply: Callable[[frozenset[int] | None], Awaitable[None]],
                 busy: Callable[[], set[int]], checks: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = leases.lease_engine(db, ttl=ttl)
        self.shards = shards
        self.ttl = ttl
        self.id = replica_id or default_replica_id()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = time.time()
        self.process = process_identity()
        self._apply = apply
        self._busy = busy
        self._checks = checks
        self._clock = clock
        self.authority = Authority(ttl=ttl, margin=ttl * AUTHORITY_MARGIN_SHARE)
        self.fences: dict[str, int] = {}
        """Lease name → the fence this process holds it with (shards it acts on, draining ones, leader)."""
        self.active: frozenset[int] | None = None  # None: not settled by a round yet (a lone start: all)
        self.draining: set[int] = set()
        self.leader_held = False
        self.stats = LeaseStats()
        self.problem: str | None = None
        """Why this process does not act on its shards now (for /readyz), None while it does."""
        self._task: asyncio.Task[None] | None = None
        self._round: asyncio.Future[object] | None = None
        self._changing = asyncio.Lock()

    # -- what the others ask -----------------------------------------------------------------
    @property
    def leader(self) -> bool:
        """Whether this process does the once-only work (housekeeping, component history and
        alerts, the watchdog): it holds the leader lease with authority, or it is alone before its
        first round."""
        if self.active is None:
            return self.authority.valid(self._clock())
        return self.leader_held and self.authority.valid(self._clock())

    def acting(self) -> bool:
        """Whether this process may probe and alert for the shards it holds right now. Checked before
        every run: a process that was paused (SIGSTOP, a VM frozen) past its authority must not run a
        single probe before its watcher lets the shards go."""
        return self.authority.valid(self._clock())

    def guard(self, session: Session, names: list[str]) -> set[str]:
        """Which lease names this process still holds with its fence, checked in `session`'s
        transaction (the fencing of alert writes). Before the first round: all (alone)."""
        if self.active is None:
            return set(names)
        return leases.guard(session, me=self.id, fences={n: self.fences[n] for n in names if n in self.fences})

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """One round before the engine schedules anything (so a process joining others never
        probes what they hold), then rounds in the background."""
        try:
            await self._one_round(patience=FIRST_ROUND_TIMEOUT)
        except Exception as exc:
            log.error("leases: first round failed (%s); probing every check alone until the database answers",
                      _short(exc))
        self._task = asyncio.create_task(self._loop(), name="leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close(self) -> None:
        """Close the lease engine's connections (after `retire`)."""
        self.db.dispose()

    def retire(self) -> None:
        """A clean stop (blocking; after the engine stopped probing): free the leases at once so the
        others take over in their next round instead of after lease_ttl, and leave the replica list."""
        try:
            with Session(self.db) as session, session.begin():
                leases.retire(session, me=self.id)
            log.info("leases: released %d shards%s", len(self.fences) - self.leader_held,
                     " and the leadership" if self.leader_held else "")
        except Exception as exc:
            log.warning("leases: could not release the leases at stop (%s); the others take them after %.0fs",
                        _short(exc), self.ttl)

    # -- rounds ------------------------------------------------------------------------------
    async def _loop(self) -> None:
        period = self.ttl / ROUNDS_PER_TTL
        next_round = self._clock() + period
        while True:
            await asyncio.sleep(min(WATCH_INTERVAL, max(0.0, next_round - self._clock())))
            await self._watch()
            if self._clock() < next_round:
                continue
            next_round = self._clock() + period
            if self._round is not None and not self._round.done():
                continue  # the previous round is stuck in the database: the watcher decides
            try:
                await self._one_round()
            except Exception as exc:
                self.stats.renewals["failure"] += 1
                self.stats.last_error = _short(exc)
                log.warning("leases: round failed (%s)", self.stats.last_error)

    async def _watch(self) -> None:
        """Give everything up once authority ends (the database has not answered for too long)."""
        if self.authority.valid(self._clock()) or (self.active is not None and not self.active
                                                  and not self.leader_held):
            return
        if self.active is None and self.authority.alone:
            return
        async with self._changing:
            quiet = self.ttl * (1 - AUTHORITY_MARGIN_SHARE)
            self.problem = (f"lost contact with the database for more than {quiet:.0f}s "
                            f"({self.stats.last_error or 'no answer'}): not probing or alerting for its "
                            f"shards until it answers")
            log.error("leases: %s", self.problem)
            self.active, self.draining, self.leader_held = frozenset(), set(), False
            self.fences = {}
            await self._apply(frozenset())

    async def _one_round(self, patience: float | None = None) -> None:
        started = self._clock()
        timeout = patience or self.ttl / ROUNDS_PER_TTL
        loop = asyncio.get_running_loop()
        busy = self._busy()
        self._round = loop.run_in_executor(None, self._round_in_db, busy)
        try:
            # shielded: a round stuck in a hung database keeps its thread; later rounds wait for it
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(self._round)
        except TimeoutError:
            raise TimeoutError(f"the database did not answer the lease round within {timeout:.1f}s") from None
        await self._settle(result, started)

    def _round_in_db(self, busy: set[int]) -> _RoundResult:
        """One transaction: heartbeat, read, plan, renew/acquire/release (blocking)."""
        with Session(self.db) as session, session.begin():
            now = leases.db_now(session)
            twin = leases.replica(session, replica_id=self.id)
            if (twin is not None and twin.process != self.process and twin.expires_at > now
                    and not gone_here(twin.process)):
                return _RoundResult(now, {}, [], [], error=(
                    f"another live process (pid {twin.pid} on {twin.host}) uses the replica id {self.id!r}: "
                    "each process needs its own engine.replica_id; not taking any shard"))
            me = Replica(self.id, self.host, self.pid, self.started_at, now, now + self.ttl, self.shards,
                         len(self.active or ()), self._checks(), self.leader_held, __version__, self.process)
            leases.heartbeat(session, replica=me)
            rows = leases.read_leases(session, lock=True)
            replicas = leases.live_replicas(session, now=now, prune=True)
            gone = [r for r in replicas if r.id != self.id and r.expires_at > now and gone_here(r.process)]
            for dead in gone:  # a process of this host that died: no need to wait for its leases to expire
                log.warning("leases: process %s (pid %d, this host) is gone; freeing its leases now", dead.id, dead.pid)
                leases.retire(session, me=dead.id)
            if gone:
                rows = leases.read_leases(session, lock=True)
                replicas = leases.live_replicas(session, now=now)
            # a process of another engine.shards takes no shard: it does not count in the shares
            live = [r.id for r in replicas if r.expires_at > now and r.shard_count == self.shards]
            others = [r for r in replicas if r.expires_at > now and r.id != self.id]
            in_table = sum(1 for name in rows if name.startswith(leases.SHARD_PREFIX))
            if in_table != self.shards:
                if others:  # the processes running decide; a newcomer with another number stays out
                    names = ", ".join(f"{r.id} ({r.shard_count})" for r in others)
                    return _RoundResult(now, rows, replicas, others, error=(
                        f"engine.shards is {self.shards} here but the lease table has {in_table} shards, "
                        f"used by {names}: every process sharing one database must use the same; "
                        "not taking any shard"))
                # a new database, or engine.shards changed while nobody else runs
                leases.ensure_leases(session, shards=self.shards)
                rows = leases.read_leases(session, lock=True)
            held = {n for n in range(self.shards) if lease_name(n) in self.fences}
            p = plan(me=self.id, shards=self.shards, leases=rows, live=live, now=now, held=held,
                     draining=self.draining, busy=busy)
            leases.renew(session, me=self.id, names=[lease_name(n) for n in p.renew], now=now, ttl=self.ttl)
            leases.release(session, me=self.id, names=[lease_name(n) for n in p.release])
            taken = leases.acquire(session, me=self.id, leases=rows, names=[lease_name(n) for n in p.acquire],
                                   now=now, ttl=self.ttl)
            leader_fence = None
            if p.leader == "renew":
                leases.renew(session, me=self.id, names=[LEADER], now=now, ttl=self.ttl)
                leader_fence = rows[LEADER].fence
            elif p.leader == "acquire":
                leader_fence = leases.acquire(session, me=self.id, leases=rows, names=[LEADER], now=now,
                                              ttl=self.ttl).get(LEADER)
            fences = {lease_name(n): rows[lease_name(n)].fence for n in p.renew}
            fences.update(taken)
            if leader_fence is not None:
                fences[LEADER] = leader_fence
            return _RoundResult(now, rows, replicas, others, plan=p, fences=fences)

    async def _settle(self, r: _RoundResult, started: float) -> None:
        self.stats.replicas = r.replicas
        self.stats.db_now = r.now
        # free as read at the round's start, less what this round took
        self.stats.unheld = sorted(n for n in range(self.shards)
                                   if (lease := r.rows.get(lease_name(n))) is not None and lease.free(r.now)
                                   and lease_name(n) not in r.fences)
        if r.error is not None:
            self.stats.renewals["failure"] += 1
            self.problem = r.error
            log.error("leases: %s", r.error)
            async with self._changing:
                self.active, self.draining, self.leader_held, self.fences = frozenset(), set(), False, {}
                await self._apply(frozenset())
            return
        p = r.plan
        self.stats.renewals["success"] += 1
        if p.lost:
            self.stats.renewals["lost"] += len(p.lost)
            log.warning("leases: shards %s were taken by another process; let go", _ranges(p.lost))
        self.authority.renewed(started, [o.id for o in r.others])
        self.stats.last_error = None
        self.problem = None
        shards = {n for n in range(self.shards) if lease_name(n) in r.fences}
        draining = (self.draining & shards) | set(p.drain)
        active = frozenset(shards - draining)
        was_leader = self.leader_held
        async with self._changing:
            self.fences = r.fences
            self.draining = draining
            self.leader_held = LEADER in r.fences
            if self.active != active:
                gained = active - (self.active or frozenset())
                if gained or p.drain or p.release:
                    log.info("leases: %d shards held (target %d)%s%s%s", len(active), p.target,
                             f"; took {_ranges(gained)}" if gained and self.active is not None else "",
                             f"; draining {_ranges(p.drain)}" if p.drain else "",
                             f"; released {_ranges(p.release)}" if p.release else "")
                self.active = active
                await self._apply(active)
        if self.leader_held != was_leader:
            log.info("leases: %s the leader", "became" if self.leader_held else "no longer")


@dataclass
class _RoundResult:
    now: float
    rows: dict[str, Lease]
    replicas: list[Replica]
    others: list[Replica]
    plan: object = None
    fences: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _ranges(shards: set[int] | frozenset[int]) -> str:
    """1,2,3,7 → "1-3,7": log lines stay short with 128 shards."""
    out: list[tuple[int, int]] = []
    for n in sorted(shards):
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)
