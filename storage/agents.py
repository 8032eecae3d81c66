"""Queries of remote agents' tables (storage/agent_models.py): storing a pushed batch once (results
and the holder's inbox in one transaction), contacts, the inbox, discovered checks, the not-reported
spans of a check and the rollup requests. The caller owns the session and the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from storage import raw
from storage.agent_models import AgentContactRow, DiscoveredRow, InboxRow, RollupRequestRow
from storage.db import insert_ignoring_duplicates
from storage.models import REASON_LENGTH, ResultRow, StateChangeRow
from storage.mstime import to_ms
from storage.raw import RawResult

__all__ = [
    "Contact", "Pushed", "contacts", "discovered", "forget_inbox", "read_inbox", "remove_span",
    "request_rollups", "store_discovered", "store_push", "take_rollup_requests", "taken_until", "touch",
]

KEYS_PER_QUERY = 500  # (series, time) pairs looked up per query when sorting new results from repeats


@dataclass(slots=True, frozen=True)
class Pushed:
    """One result of a batch, as it will be stored."""

    series: str
    check_id: str
    location: str
    shard: int
    ts_ms: int
    status: str
    latency: float | None
    reason: str
    details: dict[str, Any] | None


@dataclass(slots=True, frozen=True)
class Contact:
    """What an agent said of itself in a request."""

    name: str
    address: str
    clock_offset: float | None = None
    buffered: int | None = None
    dropped: int | None = None
    agent_version: str | None = None
    config_version: str | None = None


def _known(session: Session, rows: Sequence[Pushed]) -> set[tuple[str, int]]:
    """The (series, time) pairs of `rows` stored already (a re-sent batch)."""
    out: set[tuple[str, int]] = set()
    hot = ResultRow.__table__
    for first in range(0, len(rows), KEYS_PER_QUERY):
        chunk = rows[first:first + KEYS_PER_QUERY]
        lo, hi = min(r.ts_ms for r in chunk), max(r.ts_ms for r in chunk)
        query = select(hot.c.check_id, hot.c.ts).where(
            hot.c.check_id.in_(sorted({r.series for r in chunk})), hot.c.ts >= lo / 1000, hot.c.ts <= hi / 1000)
        out.update((cid, to_ms(ts)) for cid, ts in session.execute(query))
    return out


def store_push(session: Session, *, rows: Sequence[Pushed], contact: Contact, now: float) -> tuple[int, int]:
    """Store a batch once: its new results (a repeat of a stored (series, time) is skipped) in
    `results` and in the inbox of their holder, and the agent's contact. Returns (new, repeats).
    Results older than their hours' rollups may be also ask for those hours to be recomputed
    (`request_rollups`): the caller decides, it knows the margin."""
    known = _known(session, rows) if rows else set()
    fresh = [r for r in rows if (r.series, r.ts_ms) not in known]
    # a batch may hold the same (series, time) twice: kept once
    unique = list({(r.series, r.ts_ms): r for r in fresh}.values())
    if unique:
        bind = session.get_bind()
        session.execute(insert_ignoring_duplicates(bind, ResultRow), [
            {"check_id": r.series, "ts": r.ts_ms / 1000, "status": r.status, "latency": r.latency,
             "reason": r.reason[:REASON_LENGTH], "details": r.details or None} for r in unique])
        session.execute(insert_ignoring_duplicates(bind, InboxRow), [
            {"series": r.series, "check_id": r.check_id, "location": r.location, "shard": r.shard,
             "ts": r.ts_ms / 1000, "status": r.status, "latency": r.latency, "reason": r.reason[:REASON_LENGTH],
             "received_at": now} for r in unique])
    touch(session, contact, now=now, pushed=len(unique))
    return len(unique), len(rows) - len(unique)


def touch(session: Session, contact: Contact, *, now: float, pushed: int | None = None) -> None:
    """Record that the agent was heard from now (a push when `pushed` is given, else a poll)."""
    table = AgentContactRow.__table__
    values: dict[str, Any] = {"last_seen": now, "address": contact.address[:100]}
    for key in ("clock_offset", "buffered", "dropped", "agent_version", "config_version"):
        value = getattr(contact, key)
        if value is not None:
            values[key] = value[:64] if isinstance(value, str) else value
    if pushed is not None:
        values["last_push"] = now
        values["results"] = table.c.results + pushed
    changed = session.execute(update(table).where(table.c.name == contact.name).values(**values)).rowcount
    if changed:
        return
    first = {"name": contact.name, "first_seen": now, "last_seen": now,
             "last_push": now if pushed is not None else None,
             "address": contact.address[:100], "clock_offset": contact.clock_offset, "buffered": contact.buffered or 0,
             "dropped": contact.dropped or 0, "results": pushed or 0,
             "agent_version": (contact.agent_version or "")[:40], "config_version": (contact.config_version or "")[:64]}
    inserted = session.execute(insert_ignoring_duplicates(session.get_bind(), table), [first]).rowcount
    if not inserted:  # another process inserted it a moment ago
        session.execute(update(table).where(table.c.name == contact.name).values(**values))


def contacts(session: Session) -> list[AgentContactRow]:
    """Every agent that ever reported."""
    return list(session.scalars(select(AgentContactRow).order_by(AgentContactRow.name)))


def read_inbox(session: Session, *, shards: Iterable[int] | None, limit: int) -> list[InboxRow]:
    """The oldest pushed results not taken yet, of the shards given (None: all), in arrival order."""
    query = select(InboxRow).order_by(InboxRow.seq).limit(limit)
    if shards is not None:
        wanted = sorted(shards)
        if not wanted:
            return []
        query = query.where(InboxRow.shard.in_(wanted))
    return list(session.scalars(query))


def taken_until(session: Session, *, series: Sequence[str]) -> dict[str, RawResult]:
    """Each series' newest stored result that is not waiting in the inbox: what its holder had
    taken into state (the results pushed since, stored already, are still to be taken)."""
    pending = dict(session.execute(
        select(InboxRow.series, func.min(InboxRow.ts)).where(InboxRow.series.in_(list(series)))
        .group_by(InboxRow.series)).all())
    out = raw.last_result_at(session, check_ids=[s for s in series if s not in pending])
    for name, earliest in pending.items():
        before = raw.last_result_at(session, check_ids=[name], at=to_ms(earliest) - 1)
        out.update(before)
    return out


def forget_inbox(session: Session, *, seqs: Sequence[int]) -> None:
    for first in range(0, len(seqs), KEYS_PER_QUERY):
        session.execute(delete(InboxRow).where(InboxRow.seq.in_(seqs[first:first + KEYS_PER_QUERY])))


def store_discovered(session: Session, *, agent: str, source: str, checks: list[dict[str, Any]], now: float) -> None:
    table = DiscoveredRow.__table__
    row = {"source": source, "agent": agent, "checks": checks, "updated_at": now}
    changed = session.execute(update(table).where(table.c.source == source).values(**row)).rowcount
    if not changed:
        session.execute(insert_ignoring_duplicates(session.get_bind(), table), [row])


def discovered(session: Session) -> list[DiscoveredRow]:
    return list(session.scalars(select(DiscoveredRow).order_by(DiscoveredRow.source)))


def request_rollups(session: Session, *, earliest: float, now: float) -> None:
    session.execute(RollupRequestRow.__table__.insert(), [{"earliest": earliest, "created_at": now}])


def take_rollup_requests(session: Session) -> float | None:
    """The earliest time any request asks rollups to be recomputed from (unix seconds), the
    requests read removed; None when there is none."""
    table = RollupRequestRow.__table__
    last, earliest = session.execute(select(func.max(table.c.id), func.min(table.c.earliest))).one()
    if last is None:
        return None
    session.execute(delete(table).where(table.c.id <= last))
    return to_ms(earliest) / 1000


def remove_span(session: Session, *, series: str, at: float,
                reason_prefix: str) -> tuple[str, datetime | None, str] | None:
    """Remove a not-reported span that began at `at` (its `unknown` result and state change, the
    change's reason starting with `reason_prefix`) because results for that time arrived after
    all. Returns the state before it (state, since, reason) — what the check was in before the span
    — or None if no such span is stored."""
    changes = StateChangeRow.__table__
    span = session.execute(select(changes.c.id, changes.c.old).where(
        changes.c.check_id == series, changes.c.ts == at, changes.c.new == "unknown",
        changes.c.reason.startswith(reason_prefix))).first()
    if span is None:
        return None
    session.execute(delete(changes).where(changes.c.id == span.id))
    hot = ResultRow.__table__
    session.execute(delete(hot).where(and_(hot.c.check_id == series, hot.c.ts == at, hot.c.status == "unknown")))
    before = session.execute(select(changes.c.new, changes.c.ts, changes.c.reason).where(
        changes.c.check_id == series, changes.c.ts < at).order_by(changes.c.ts.desc()).limit(1)).first()
    if before is None:
        return (span.old, None, "")
    return (before.new, before.ts, before.reason)


