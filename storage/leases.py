"""Lease queries: one lease round of a process, and the fencing guard its writes use. Every time
here is the database's clock (`db_now`), so processes on hosts whose clocks disagree still agree
on when a lease expires. Keyword-only arguments; the caller owns the session and the transaction.

A round must hold the lease rows for its whole transaction: on PostgreSQL and MariaDB the rows
are read `FOR UPDATE` (rounds of different processes queue for a few milliseconds); on SQLite the
round starts by writing its replica row, which takes the database's one write lock at once (what
`BEGIN IMMEDIATE` would do), so the reads after it cannot go stale."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, event, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.db import create_db_engine, insert_ignoring_duplicates
from storage.lease_models import LeaseRow, ReplicaRow

__all__ = ["LEADER", "Lease", "Replica", "acquire", "db_now", "ensure_leases", "guard", "heartbeat",
           "lease_engine", "lease_name", "live_replicas", "read_leases", "release", "renew", "retire"]

LEADER = "leader"
SHARD_PREFIX = "shard:"
REPLICA_ROWS_KEPT = 3600.0
"""Seconds a dead process's replica row stays after it expired (shown as gone, then deleted): an
hour of "who was here" for the operator, without rows piling up from every restart."""


def lease_engine(db: Engine, *, ttl: float) -> Engine:
    """The engine lease rounds run on: on PostgreSQL and MariaDB a small pool of its own whose
    sessions bound every wait by the lease's time. A round waits at most ttl/5 for another's row
    locks, and the server ends a round's transaction left idle for ttl/3 (its process frozen or
    cut off mid-round), so a stuck process cannot hold the lease rows and stall everyone's rounds.
    On SQLite the same engine (one file, one host; an in-memory database is per engine)."""
    name = db.dialect.name
    if name == "sqlite":
        return db
    lock_ms, idle_ms = max(100, int(ttl / 5 * 1000)), max(1000, int(ttl / 3 * 1000))
    url = db.url.render_as_string(hide_password=False)
    engine = create_db_engine(url, pool_size=2, max_overflow=2)

    @event.listens_for(engine, "connect")
    def _bounded(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if name == "postgresql":
            cur.execute(f"SET lock_timeout = {lock_ms}")
            cur.execute(f"SET statement_timeout = {idle_ms}")
            cur.execute(f"SET idle_in_transaction_session_timeout = {idle_ms}")
        else:  # MariaDB (whole seconds for the lock and idle waits; at least 1)
            cur.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, round(lock_ms / 1000))}")
            cur.execute(f"SET SESSION idle_transaction_timeout = {max(1, round(idle_ms / 1000))}")
            cur.execute(f"SET SESSION max_statement_time = {idle_ms / 1000}")
        cur.close()
        if name == "postgresql":
            dbapi_conn.commit()

    return engine


def lease_name(shard: int) -> str:
    return f"{SHARD_PREFIX}{shard}"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str | None
    fence: int
    expires_at: float | None  # unix seconds, database clock

    def free(self, now: float) -> bool:
        """Nobody holds it, or its holder let it expire."""
        return self.holder is None or self.expires_at is None or self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Replica:
    id: str
    host: str
    pid: int
    started_at: float
    last_renewal: float
    expires_at: float
    shard_count: int
    shards: int = 0
    checks: int = 0
    leader: bool = False
    version: str = ""
    process: str = ""


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def db_now(session: Session) -> float:
    """The database server's clock, unix seconds (SQLite has no server: this host's clock)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return float(session.scalar(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")))
    if name in ("mysql", "mariadb"):
        return float(session.scalar(text("SELECT UNIX_TIMESTAMP(SYSDATE(6))")))
    return time.time()


def heartbeat(session: Session, *, replica: Replica) -> None:
    """Write this process's replica row (insert or update). On SQLite this first write of the round
    takes the write lock the rest of the round relies on."""
    values = {"host": replica.host, "pid": replica.pid, "started_at": replica.started_at,
              "last_renewal": replica.last_renewal, "expires_at": replica.expires_at,
              "shard_count": replica.shard_count, "shards": replica.shards, "checks": replica.checks,
              "leader": replica.leader, "version": replica.version,
              "process": replica.process}
    done = session.execute(update(ReplicaRow).where(ReplicaRow.id == replica.id).values(**values)).rowcount
    if not done:
        session.execute(insert_ignoring_duplicates(session.get_bind(), ReplicaRow), [{"id": replica.id, **values}])


def ensure_leases(session: Session, *, shards: int) -> None:
    """Make the lease rows those of `shards` shards and the leader: missing ones created (the first
    round on a new database), those of shards beyond the number deleted (engine.shards changed while
    no other process ran: the caller makes sure of that)."""
    have = session.scalar(select(func.count()).select_from(LeaseRow))
    if have > shards + 1:
        names = [lease_name(n) for n in range(shards)] + [LEADER]
        session.execute(delete(LeaseRow).where(LeaseRow.name.not_in(names)))
    if have == shards + 1:
        return
    rows = [{"name": lease_name(n), "holder": None, "fence": 0, "acquired_at": None, "expires_at": None}
            for n in range(shards)]
    rows.append({"name": LEADER, "holder": None, "fence": 0, "acquired_at": None, "expires_at": None})
    session.execute(insert_ignoring_duplicates(session.get_bind(), LeaseRow), rows)


def read_leases(session: Session, *, lock: bool = False) -> dict[str, Lease]:
    """Every lease row; `lock` holds them until the transaction ends (a round)."""
    query = select(LeaseRow).order_by(LeaseRow.name)
    if lock:
        query = query.with_for_update()
    return {row.name: Lease(row.name, row.holder, row.fence, _seconds(row.expires_at))
            for row in session.scalars(query)}


def live_replicas(session: Session, *, now: float, prune: bool = False) -> list[Replica]:
    """The replica rows, alive or not (compare `expires_at` with `now`); `prune` deletes those
    dead for longer than REPLICA_ROWS_KEPT."""
    if prune:
        session.execute(delete(ReplicaRow).where(ReplicaRow.expires_at < now - REPLICA_ROWS_KEPT))
    return [_replica(r) for r in session.scalars(select(ReplicaRow).order_by(ReplicaRow.id))]


def _replica(r: ReplicaRow) -> Replica:
    return Replica(r.id, r.host, r.pid, r.started_at.timestamp(), r.last_renewal.timestamp(), r.expires_at.timestamp(),
                   r.shard_count, r.shards, r.checks, r.leader, r.version, r.process)


def replica(session: Session, *, replica_id: str) -> Replica | None:
    """One replica row, or None."""
    row = session.get(ReplicaRow, replica_id)
    return None if row is None else _replica(row)


def renew(session: Session, *, me: str, names: Iterable[str], now: float, ttl: float) -> None:
    """Push the expiry of leases `me` holds to now + ttl (the fence stays: same holder)."""
    names = list(names)
    if names:
        session.execute(update(LeaseRow).where(LeaseRow.name.in_(names), LeaseRow.holder == me)
                        .values(expires_at=now + ttl))


def release(session: Session, *, me: str, names: Iterable[str]) -> None:
    """Give leases back: free at once for the others' next round."""
    names = list(names)
    if names:
        session.execute(update(LeaseRow).where(LeaseRow.name.in_(names), LeaseRow.holder == me)
                        .values(holder=None, expires_at=None))


def acquire(session: Session, *, me: str, leases: Mapping[str, Lease], names: Iterable[str], now: float,
            ttl: float) -> dict[str, int]:
    """Take each of `names` that is still free (compare-and-set: free means no holder or expired by
    `now`), raising its fence by one. `leases` is what this round read of them. Returns name → new
    fence of those taken."""
    names = list(names)
    if not names:
        return {}
    free = or_(LeaseRow.holder.is_(None), LeaseRow.expires_at.is_(None), LeaseRow.expires_at <= now)
    session.execute(update(LeaseRow).where(LeaseRow.name.in_(names), free)
                    .values(holder=me, fence=LeaseRow.fence + 1, acquired_at=now, expires_at=now + ttl))
    rows = session.execute(select(LeaseRow.name, LeaseRow.holder, LeaseRow.fence).where(LeaseRow.name.in_(names)))
    return {r.name: r.fence for r in rows if r.holder == me and r.fence == leases[r.name].fence + 1}


def retire(session: Session, *, me: str) -> None:
    """A clean stop: free every lease of `me` and delete its replica row. Also how a process
    clears a dead neighbour on its own host (see ReplicaRow.process)."""
    session.execute(update(LeaseRow).where(LeaseRow.holder == me).values(holder=None, expires_at=None))
    session.execute(delete(ReplicaRow).where(ReplicaRow.id == me))


def guard(session: Session, *, me: str, fences: Mapping[str, int]) -> set[str]:
    """The fencing check of a write: which of `fences` (lease name → the fence this process holds
    it with) are still held by `me` under that same fence. Read with a shared lock, so no round can
    move them before the caller's transaction commits. Expiry is not checked: a lease that expired
    while its holder was cut off, and that nobody took since, was acted on by nobody else."""
    if not fences:
        return set()
    rows = session.execute(select(LeaseRow.name, LeaseRow.holder, LeaseRow.fence)
                           .where(LeaseRow.name.in_(list(fences))).with_for_update(read=True)).all()
    return {r.name for r in rows if r.holder == me and r.fence == fences[r.name]}
