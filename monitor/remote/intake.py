"""The intake, a service part: takes the results agents pushed (stored on arrival by whichever
process answered them, announced in the inbox) into the state of the checks this process holds,
in arrival order; judges checks run in several locations by quorum; and says when an agent's
checks go unobserved ("agent prod-dc not reporting since …"), until results fill the span.

History, not news: a result at or before the newest one already taken changes nothing here (it
is stored, and its hours' rollups are recomputed); results that arrive in a burst after a silence
are taken in order, so the state history shows what the agent saw, and alerting, which reads the
state as it is after the burst, never fires for the past."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session

from monitor.remote.contacts import read_contacts
from monitor.remote.quorum import FRESH_INTERVALS, Seen, series_id, verdict
from monitor.state import StateMachine, Transition
from probes.agent import Contact
from probes.base import CENTRAL, CheckBase, Result, Status
from storage import agents as agent_store
from storage.db import insert_ignoring_duplicates
from storage.gaps import NOT_MONITORED
from storage.models import ResultRow, StateChangeRow

__all__ = ["SILENCE_PREFIX", "Intake"]

log = logging.getLogger(__name__)

TICK = 0.5  # seconds between reads of the inbox: a pushed result shows this far behind, at most
CONTACTS_EVERY = 2.0
"""Seconds between reads of the agents' contacts (for metrics) while this process holds no check an
agent runs; holding one, every round reads them (a silence is judged on them)."""
BATCH = 5000  # inbox rows taken per read
SILENCE_PREFIX = "agent "
"""How the reason of a not-reported span begins ("agent prod-dc not reporting since …"): how a
later fill knows the span is one it may remove."""


def _at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Intake:
    """`checks()`: the checks in force; `owns(check_id)`: whether this process holds the check's
    shard; `held()`: the shards held (None: all); `record(check, result)`: the engine's way a
    result becomes state (runner.record); `changed(transition)`: writes one state change."""

    def __init__(self, *, db: DbEngine, state: StateMachine, checks: Callable[[], dict[str, CheckBase]],
                 owns: Callable[[str], bool], held: Callable[[], frozenset[int] | None],
                 record: Callable[[CheckBase, Result], object], changed: Callable[[Transition], None],
                 acting: Callable[[], bool] = lambda: True, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.state = state
        self.checks = checks
        self.owns = owns
        self.held = held
        self.record = record
        self.changed = changed
        self.acting = acting
        self.clock = clock
        self.newest: dict[str, float] = {}
        """Series id → time of the newest result taken into state (what is older is history)."""
        self.silent: dict[str, float] = {}
        """Series id → when its not-reported span began (written, and shown as the state)."""
        self.arrived: dict[str, float] = {}
        """Series id → when a result of it was last taken (this process's clock): an agent sending
        its backlog after an outage sends old results, and is not silent for all that."""
        self.watched_from: dict[str, float] = {}
        """Series id → since when this process holds it (a series never heard of is silent from then)."""
        self.seen: dict[str, dict[str, Seen]] = {}
        """Check id (run in several locations) → location → its latest result."""
        self.contacts: dict[str, Contact] = {}
        self._loaded: set[str] = set()
        self._contacts_at = 0.0
        self.has_agents: Callable[[], bool] = lambda: True
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="agent-intake")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def ownership_changed(self, _taken: set[str], dropped: set[str]) -> None:
        """Forget what was known of checks let go; those taken are loaded at the next round."""
        for cid in dropped:
            self._forget(cid)

    def _forget(self, check_id: str) -> None:
        self._loaded.discard(check_id)
        self.seen.pop(check_id, None)
        for series in [s for s in self.newest if s == check_id or s.startswith(f"{check_id}@")]:
            self.newest.pop(series, None)
        for table in (self.silent, self.watched_from, self.arrived):
            for series in [s for s in table if s == check_id or s.startswith(f"{check_id}@")]:
                table.pop(series, None)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.round()
            except Exception as exc:
                log.warning("agent intake: %s", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
                await asyncio.sleep(2.0)

    # -- one round ---------------------------------------------------------------------------
    def _remote(self) -> list[CheckBase]:
        """The checks this process holds that a location other than itself runs."""
        return [c for c in self.checks().values() if c.remote and self.owns(c.id)]

    async def round(self) -> None:
        """Load what is new of the held remote checks, take the inbox, judge silences."""
        remote = self._remote() if self.acting() else []
        if (remote or self.clock() - self._contacts_at >= CONTACTS_EVERY) and self.has_agents():
            self.contacts = await asyncio.to_thread(read_contacts, self.db)
            self._contacts_at = self.clock()
        if not remote:
            return
        current = {c.id for c in remote}
        for cid in [c for c in self._loaded if c not in current]:
            self._forget(cid)
        fresh = [c for c in remote if c.id not in self._loaded]
        if fresh:
            await self._load(fresh)
        held = self.held()
        rows = await asyncio.to_thread(self._read, held)
        if rows:
            await self._take(rows)
        await self._judge_silences(remote)

    def _read(self, held: frozenset[int] | None) -> list:
        with Session(self.db) as session:
            rows = agent_store.read_inbox(session, shards=held, limit=BATCH)
            session.expunge_all()
            return rows

    async def _load(self, checks: list[CheckBase]) -> None:
        """What storage knows of checks newly held: each series' newest result, the locations'
        latest results of a check run in several."""
        series = {}
        for check in checks:
            if len(check.sites) == 1:
                series[check.id] = check
            else:
                for site in check.sites:
                    series[series_id(check.id, site)] = check

        def read() -> dict:
            with Session(self.db) as session:
                return agent_store.taken_until(session, series=list(series))

        latest = await asyncio.to_thread(read)
        now = self.clock()
        for check in checks:
            self._loaded.add(check.id)
            st = self.state.checks.get(check.id)
            if len(check.sites) == 1:
                last = latest.get(check.id)
                if last is not None:
                    self.newest[check.id] = last.ts.timestamp()
                self.watched_from[check.id] = now
                if (st is not None and st.status == Status.UNKNOWN and st.since is not None
                        and st.reason.startswith(SILENCE_PREFIX)):
                    self.silent[check.id] = st.since
            else:
                seen = self.seen.setdefault(check.id, {})
                for site in check.sites:
                    last = latest.get(series_id(check.id, site))
                    if last is not None:
                        seen[site] = Seen(Status(last.status), last.ts.timestamp(), last.reason)
                        self.newest[series_id(check.id, site)] = last.ts.timestamp()

    async def _take(self, rows: list) -> None:
        checks = self.checks()
        done: list[int] = []
        now = self.clock()
        for row in rows:
            check = checks.get(row.check_id)
            if check is not None and (not self.owns(check.id) or check.id not in self._loaded):
                continue  # let go since the read (its new holder takes it), or taken since: next round
            done.append(row.seq)
            if check is None:
                continue  # a check retired, or discovered by the agent and not known here yet: stored, no state
            result = Result(Status(row.status), row.reason, {}, row.latency, row.ts.timestamp(), stored=True)
            if len(check.sites) == 1:
                await self._single(check, result)
            else:
                self._located(check, row.location, result, now)
        if done:
            await asyncio.to_thread(self._forget_rows, done)

    def _forget_rows(self, seqs: list[int]) -> None:
        with Session(self.db) as session, session.begin():
            agent_store.forget_inbox(session, seqs=seqs)

    async def _single(self, check: CheckBase, result: Result) -> None:
        """A result of a check one agent runs: fill a premature span, mark a gap inside a burst,
        then take it like a result of the centre's own."""
        cid, ts = check.id, result.time
        span = self.silent.get(cid)
        if span is not None and ts < span + check.interval:
            await self._fill(check, span)
        newest = self.newest.get(cid)
        if newest is not None and ts <= newest:
            return
        if newest is not None and cid not in self.silent and ts - newest > FRESH_INTERVALS * check.interval:
            await self._span(check, newest + check.interval,
                             f"agent {check.sites[0]} sent no result for this check between {_at(newest)} "
                             f"and {_at(ts)}")
        self.silent.pop(cid, None)
        self.newest[cid] = ts
        self.arrived[cid] = self.clock()
        self.record(check, result)

    def _located(self, check: CheckBase, location: str, result: Result, now: float) -> None:
        """One location's result of a check run in several: kept as that location's latest, then
        the check judged from all of them."""
        series = series_id(check.id, location)
        newest = self.newest.get(series)
        if newest is not None and result.time <= newest:
            return
        self.newest[series] = result.time
        self.observe(check, location, result, now=now)

    def observe(self, check: CheckBase, location: str, result: Result, *, now: float | None = None) -> None:
        """A location's latest result of a check run in several (the engine hands its own runs here
        as `central`): the check's verdict is taken as its result at that time (at the check's
        last result's time when this one is older)."""
        now = self.clock() if now is None else now
        seen = self.seen.setdefault(check.id, {})
        seen[location] = Seen(result.status, result.time, result.reason)
        self._judge(check, max(result.time, self._last_time(check.id)), now)

    def _last_time(self, check_id: str) -> float:
        st = self.state.checks.get(check_id)
        return st.last_result.time if st is not None and st.last_result is not None else 0.0

    def _judge(self, check: CheckBase, at: float, now: float) -> None:
        status, reason = verdict(check, self.seen.get(check.id, {}), now, self._silent_sites(check, now))
        self.record(check, Result(status, reason, {}, None, round(at, 3)))

    def _silent_sites(self, check: CheckBase, now: float) -> dict[str, str]:
        out = {}
        for site in check.sites:
            if site == CENTRAL:
                continue
            last = self.seen.get(check.id, {}).get(site)
            reason = self._agent_silence(site, now, check, last.time if last is not None else None)
            if reason:
                out[site] = reason
        return out

    def _agent_silence(self, agent: str, now: float, check: CheckBase, last: float | None) -> str | None:
        """Why `agent` does not report, if nothing was heard from it since about the check's last
        result from it (`last`): then the agent is silent, not only its run of this check. Without
        a result yet: when nothing was heard for as long as a result stays fresh."""
        contact = self.contacts.get(agent)
        if contact is None:
            return f"agent {agent} has never reported"
        if last is not None:
            silent = contact.last_seen <= last + check.interval
        else:
            silent = now - contact.last_seen > FRESH_INTERVALS * check.interval + check.timeout
        return f"agent {agent} not reporting since {_at(contact.last_seen)}" if silent else None

    # -- silences ----------------------------------------------------------------------------
    async def _judge_silences(self, remote: list[CheckBase]) -> None:
        now = self.clock()
        for check in remote:
            if len(check.sites) == 1:
                cid = check.id
                if cid in self.silent:
                    continue
                last = self.newest.get(cid)
                since = last if last is not None else self.watched_from.get(cid, now)
                fresh = FRESH_INTERVALS * check.interval + check.timeout
                if now - since <= fresh or now - self.arrived.get(cid, 0.0) <= fresh:
                    continue  # (a backlog arriving: old results, but the agent reports)
                agent = check.sites[0]
                why = self._agent_silence(agent, now, check, last)
                if why is None:
                    why = f"agent {agent} sent no result for this check since {_at(since)}"
                if last is None:
                    # nothing stored yet: no span to write; the state says why (it is unknown already)
                    st = self.state.checks.get(cid)
                    if st is not None and st.status == Status.UNKNOWN:
                        st.reason = why
                    continue
                await self._span(check, last + check.interval, why)
            else:
                st = self.state.checks.get(check.id)
                status, _ = verdict(check, self.seen.get(check.id, {}), now, self._silent_sites(check, now))
                if st is not None and status != st.status and (st.last_result is None or
                                                               now - st.last_result.time >= check.interval / 2):
                    self._judge(check, now, now)

    async def _span(self, check: CheckBase, at: float, reason: str) -> None:
        """Write a not-reported span from `at` (an `unknown` result and state change, directly, so
        that a fill finds them), then show it as the state."""
        at = round(at, 3)
        st = self.state.checks.get(check.id)
        old = st.status.value if st is not None else Status.UNKNOWN.value

        def write() -> None:
            with Session(self.db) as session, session.begin():
                bind = session.get_bind()
                session.execute(insert_ignoring_duplicates(bind, ResultRow), [  # as storage.gaps writes a gap
                    {"check_id": check.id, "ts": at, "status": "unknown", "latency": None,
                     "reason": f"{NOT_MONITORED}: {reason}", "details": None}])
                if old != Status.UNKNOWN.value:
                    session.execute(insert_ignoring_duplicates(bind, StateChangeRow), [
                        {"check_id": check.id, "ts": at, "old": old, "new": "unknown", "reason": reason}])

        await asyncio.to_thread(write)
        self.silent[check.id] = at
        for transition in self.state.unobserved(check.id, at, reason):
            log.info("%s %s: %s → %s (%s)", transition.kind, transition.subject, transition.old, transition.new,
                     transition.reason)
            if transition.kind == "component":
                self.changed(transition)

    async def _fill(self, check: CheckBase, span: float) -> None:
        """Results for a span written as not reported arrived after all (the agent buffered them):
        the span goes, and the state is what it was before it, for those results to carry on from."""

        def remove() -> tuple | None:
            with Session(self.db) as session, session.begin():
                return agent_store.remove_span(session, series=check.id, at=span, reason_prefix=SILENCE_PREFIX)

        before = await asyncio.to_thread(remove)
        self.silent.pop(check.id, None)
        self.newest.pop(check.id, None)
        if before is not None:
            status, since, reason = before
            self.state.restore(check.id, Status(status), since.timestamp() if since else span, reason)

