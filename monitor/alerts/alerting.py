"""Alerting as a part of the service: watches the engine's confirmed states, asks the pure
machine what to notify, stores the decisions with their outbox rows in one transaction (on the
storage writer's thread) and only then hands them to the sender. Never blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine as DbEngine
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from monitor.alerts import machine
from monitor.alerts.config import AlertsConfig
from monitor.alerts.machine import AlertRecord, Decision, Policy, Silencer, Subject
from monitor.alerts.payload import build_payload
from monitor.alerts.receivers import alertmanager
from monitor.alerts.routing import route
from monitor.alerts.sender import Delivery, Sender
from monitor.alerts.silences import Silence, Silences
from monitor.ports import ConfigSource, StateView, StorageTasks
from probes.base import CheckBase, Result, Status
from storage import alert_queries

log = logging.getLogger(__name__)

EVALUATE_INTERVAL = 1.0  # seconds between evaluations (group waits, reminders, silences ending)
SYNC_INTERVAL = 5.0
"""Seconds between reads of what other processes changed (their alerts, acknowledgements and
silences made through them): a silence added on one process silences on all within this."""
LOAD_RETRY = 5.0  # seconds between attempts to read the alert state at start


class SilenceRefused(ValueError):
    """A silence that would be over before it began (or already)."""


class Alerting:
    """Owns the alert records in memory (mirrored in the `alert_states` table), the silences and
    the sender. Its state is loaded before the first evaluation, so a restart carries on."""

    def __init__(self, *, config: ConfigSource, state: StateView, tasks: StorageTasks, db: DbEngine,
                 owns: Callable[[str], bool] = lambda _key: True,
                 guard: Callable[[Session, list[str]], set[str]] | None = None) -> None:
        self._current = config
        self.owns = owns
        """Whether this process decides and sends the alert of a key (the holder of the check's
        shard; the leader for components). Keys it does not own are only shown (`elsewhere`)."""
        self.guard = guard
        """Fencing: which keys this process may still write, checked in the writing transaction."""
        self.elsewhere: dict[str, AlertRecord] = {}
        """Active alerts other processes own, as last read from the database (for the API)."""
        self._decided: set[str] = set()
        """Keys this process decided on since it owns them: a sync must not bring back from the
        database one it resolved a moment ago (the write may still be on the writer's queue)."""
        self._synced_at = 0.0
        self.state = state
        self.tasks = tasks
        self.db = db
        self.records: dict[str, AlertRecord] = {}
        self.previous: dict[str, Status] = {}
        self._unconfirmed: set[str] = set()  # check ids whose state is not yet backed by its threshold
        self.silences = Silences()
        self.extra_silencers: list[Silencer] = []
        """More silencers beside the silences (maintenance windows)."""
        self._silence_source: object = None
        self._clients_source: object = None
        self.loaded = False
        self.evaluations = 0
        self.sender = Sender(
            receivers=lambda: self.config.receiver_by_name(),
            delivery=lambda: self.config.delivery,
            record=self._record_delivery,
            secrets=lambda: self._current().secret_values,
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresh_due: dict[str, float] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._marking: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> AlertsConfig:
        return self._current().alerts

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="alerting")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in self._refreshing.values():
            task.cancel()
        await self.sender.stop()

    def on_run(self, check: CheckBase, result: Result, transitions: list) -> None:
        """Engine sink (event loop): remember where each state came from, wake the evaluation on a
        change of state or when a state shown at once has just met its threshold."""
        for t in transitions:
            self.previous[f"{t.kind}:{t.subject}"] = t.old
        state = self.state.checks.get(check.id)
        confirmed_now = False
        if state is not None and not state.confirmed:
            self._unconfirmed.add(check.id)
        elif check.id in self._unconfirmed:
            self._unconfirmed.discard(check.id)
            confirmed_now = True
        if transitions or confirmed_now:
            self._wake.set()

    async def _run(self) -> None:
        while not self.loaded:
            try:
                await self._load()
            except Exception as exc:
                log.warning("alert state not readable yet (%s); retrying in %.0fs",
                            f"{type(exc).__name__}: {exc}".splitlines()[0], LOAD_RETRY)
                await asyncio.sleep(LOAD_RETRY)
        while True:
            if time.time() - self._synced_at >= SYNC_INTERVAL:
                try:
                    await self._sync()
                except Exception as exc:  # the database is away: evaluate what is known, read again later
                    self._synced_at = time.time()
                    log.warning("alerting: reading other processes' alerts failed (%s); retrying in %.0fs",
                                f"{type(exc).__name__}: {exc}".splitlines()[0], SYNC_INTERVAL)
            try:
                self.evaluate(time.time())
                self._refresh_alertmanagers(time.time())
                if self.config is not self._clients_source:  # a reload: drop clients of old TLS settings
                    self._clients_source = self.config
                    await self.sender.close_unused_clients()
            except Exception:
                log.exception("alert evaluation failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), EVALUATE_INTERVAL)

    def ownership_changed(self) -> None:
        """The shards or the leadership of this process changed: forget the alerts it no longer owns
        (and their queued notifications) at once; the next sync loads those it gained."""
        for key in [k for k in self.records if not self.owns(k)]:
            self.elsewhere[key] = self.records.pop(key)
        self._decided = {k for k in self._decided if self.owns(k)}
        self.sender.retain(self.owns)
        self._synced_at = 0.0
        self._wake.set()

    async def _sync(self) -> tuple[int, int]:
        """Read what other processes changed (every SYNC_INTERVAL, and after a change of shards):
        the alerts this process gained (a takeover) and their pending notifications, the ones the
        others own (shown by the API), acknowledgements and silences made through another process."""

        def read() -> tuple[list, list, list]:
            with Session(self.db) as session:
                states = alert_queries.active_alert_states(session)
                silences = alert_queries.current_silences(session, now=time.time())
                pending = alert_queries.pending_outbox(session)
                session.expunge_all()
                return states, silences, pending

        self._synced_at = time.time()
        states, silences, pending = await asyncio.to_thread(read)
        self._take(states, silences, pending)
        return len(silences), len(pending)

    def _take(self, states: list, silences: list, pending: list) -> None:
        """Apply what `_sync` read: merge the stored alerts this process owns (taken over: carried on
        from what their previous holder stored), note the others', and queue owned pending rows."""
        stored = {row.key: _record_from_row(row) for row in states}
        for key, record in stored.items():
            mine = self.records.get(key)
            if not self.owns(key):
                continue
            if mine is None and key not in self._decided:
                self.records[key] = record  # taken over: carry on from what its previous holder stored
            elif record.acknowledged_by and not mine.acknowledged_by:
                self.records[key] = replace(mine, acknowledged_by=record.acknowledged_by)
        self.elsewhere = {k: r for k, r in stored.items() if not self.owns(k)}
        self.silences.set_api(silence_from_row(row) for row in silences)
        self.sender.enqueue(
            Delivery(row.event_id, row.receiver, row.key, payload, row.created_at.timestamp(), row.attempts,
                     row.next_attempt_at.timestamp())
            for row, payload in pending if self.owns(row.key)
        )

    def all_records(self) -> dict[str, AlertRecord]:
        """Every active alert: this process's, and those other processes own (as last read)."""
        return {**self.elsewhere, **self.records}

    async def _load(self) -> None:
        """The first `_sync`: this process's alerts, silences and pending notifications at start."""
        silences, pending = await self._sync()
        self.loaded = True
        log.info("alerting: %d active alerts, %d silences, %d notifications pending",
                 len(self.records), silences, pending)

    # -- evaluation --------------------------------------------------------------------------
    def public_url(self) -> str:
        server = self._current().server
        return server.public_url or f"http://{server.host}:{server.port}"

    def subjects(self) -> dict[str, Subject]:
        """The checks and components worth evaluating now: bad ones and those with an alert."""
        cfg = self.config
        bad = {Status.DOWN, Status.DEGRADED} if cfg.on_degraded else {Status.DOWN}
        state = self.state
        out: dict[str, Subject] = {}
        if "check" in cfg.subjects:
            records = self.records
            alerted = {key[6:] for key in records if key.startswith("check:")}
            for cid, st in list(state.checks.items()):
                # most checks are up and have no alert: leave them at the first test (50,000 a second)
                if st.status not in bad and cid not in alerted:
                    continue
                key = f"check:{cid}"
                # a state restored from storage is not an observation: wait for this process's first run
                status = st.status if st.last_result is not None else Status.UNKNOWN
                if (status not in bad and key not in records) or not self.owns(key):
                    continue
                check = st.check
                severity = check.severity or cfg.severity.get(check.component, cfg.default_severity)
                labels = {**check.labels, "check": cid, "component": check.component, "kind": check.kind,
                          "name": check.name, "severity": severity, "subject": "check"}
                previous = self.previous.get(key, Status.UNKNOWN)
                parents = tuple(f"check:{p}" for p in check.depends_on)
                out[key] = Subject(key, "check", cid, status, st.since, st.reason, previous, labels, severity, parents,
                                   st.confirmed)
        if "component" in cfg.subjects and self.owns("component:"):
            for name, comp in list(state.components.items()):
                key = f"component:{name}"
                observed = all(state.checks[c].last_result is not None for c in comp.check_ids if c in state.checks)
                status = comp.status if observed else Status.UNKNOWN
                if status not in bad and key not in self.records:
                    continue
                severity = cfg.severity.get(name, cfg.default_severity)
                labels = {"component": name, "kind": "component", "severity": severity, "subject": "component"}
                reason = next((state.checks[c].reason for c in comp.check_ids
                               if c in state.checks and state.checks[c].status == comp.status), "")
                # a component depends on what its checks depend on outside it
                parents = sorted({f"check:{p}" for c in comp.check_ids if c in state.checks
                                  for p in state.checks[c].check.depends_on
                                  if p in state.checks and state.checks[p].check.component != name})
                # confirmed when a check that gives the component its status met its threshold
                confirmed = any(state.checks[c].confirmed for c in comp.check_ids
                                if c in state.checks and state.checks[c].status == comp.status)
                out[key] = Subject(key, "component", name, status, comp.since, reason,
                                   self.previous.get(key, Status.UNKNOWN), labels, severity, tuple(parents), confirmed)
        return out

    def evaluate(self, now: float) -> list[Decision]:
        """Decide, update the records in memory, and queue the durable write of the decisions."""
        cfg = self.config
        if cfg is not self._silence_source:
            self._silence_source = cfg
            self.silences.set_config(
                Silence(f"config-{i}", s.matchers, s.starts_at.timestamp(), s.ends_at.timestamp(), s.comment,
                        "config", "config")
                for i, s in enumerate(cfg.silences)
            )
        for key in [k for k in self.records if not self.owns(k)]:
            # owned elsewhere now (a shard or the leadership moved): the machine would resolve it as gone
            self.elsewhere[key] = self.records.pop(key)
        self._decided = {k for k in self._decided if self.owns(k)}
        policy = Policy(on_degraded=cfg.on_degraded, repeat_interval=cfg.repeat_interval, group_wait=cfg.group_wait)
        silencers = [self.silences, *self.extra_silencers]
        decisions = machine.evaluate(self.subjects(), self.records, now=now, policy=policy, silencers=silencers)
        self.evaluations += 1
        if decisions:
            self._apply(decisions, now)
        return decisions

    def _apply(self, decisions: list[Decision], now: float) -> None:
        cfg = self.config
        receivers = cfg.receiver_by_name()
        states, events, outbox, deliveries = [], [], [], []
        for decision in decisions:
            record, ev = decision.record, decision.event
            self._decided.add(record.key)
            before = self.records.get(record.key)
            if ev is not None:
                previous = dict(before.payload) if before else None
                payload = build_payload(ev, public_url=self.public_url(), previous=previous)
                record = replace(record, payload=payload)
                names: list[str] = []
                if ev.suppressed_by is None:
                    names = [n for n in route(cfg.routes, payload["alert"]["labels"], list(receivers))
                             if ev.type != machine.RESOLVED or receivers[n].send_resolved]
                events.append({"event_id": ev.event_id, "key": ev.key, "type": ev.type, "at": ev.at,
                               "suppressed_by": ev.suppressed_by, "receivers": names, "payload": payload})
                for name in names:
                    outbox.append({"event_id": ev.event_id, "receiver": name, "key": ev.key, "created_at": now,
                                   "attempts": 0, "next_attempt_at": now, "outcome": "pending",
                                   "delivered_at": None, "last_error": None, "updated_at": now})
                    deliveries.append(Delivery(ev.event_id, name, ev.key, payload, now))
                log.info("alert %s: %s%s → %s", ev.key, ev.type,
                         f" (suppressed: {ev.suppressed_by})" if ev.suppressed_by else "", ", ".join(names) or "-")
            if record.active:
                self.records[record.key] = record
            else:
                self.records.pop(record.key, None)
            states.append(_row_from_record(record, now))
        self._persist(states, events, outbox, deliveries)

    def _persist(self, states: list[dict], events: list[dict], outbox: list[dict], deliveries: list[Delivery]) -> None:
        def task(session: Session) -> None:
            nonlocal states, events, outbox, deliveries
            if self.guard is not None:  # fencing: a process that lost a key's lease writes nothing of it
                keys = {row["key"] for row in states} | {row["key"] for row in events}
                allowed = self.guard(session, sorted(keys))
                if allowed != keys:
                    log.warning("alert decisions for %s not stored: their lease moved to another process",
                                ", ".join(sorted(keys - allowed)))
                    states = [r for r in states if r["key"] in allowed]
                    events = [r for r in events if r["key"] in allowed]
                    outbox = [r for r in outbox if r["key"] in allowed]
                    deliveries = [d for d in deliveries if d.key in allowed]
            alert_queries.save_alerts(session, states=states, events=events, outbox=outbox)
            if deliveries:
                sent = deliveries
                sa_event.listen(session, "after_commit", lambda _s: self._hand_over(sent), once=True)

        self.tasks.put_task(task)

    def _hand_over(self, deliveries: list[Delivery]) -> None:
        """Writer thread, after the commit: the rows are durable, the sender may send them."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: sent after restart
                loop.call_soon_threadsafe(self.sender.enqueue, deliveries)

    def _record_delivery(self, event_id: str, receiver: str, outcome: str, attempts: int, next_at: float,
                         error: str | None) -> None:
        now = time.time()

        def mark(session: Session) -> None:
            alert_queries.mark_delivery(session, event_id=event_id, receiver=receiver, outcome=outcome,
                                        attempts=attempts, next_attempt_at=next_at, now=now, last_error=error)

        if outcome == "pending" or self._loop is None:
            self.tasks.put_task(mark)
            return
        # A final outcome is written at once, not behind the writer's queue: until it is committed, a
        # process that takes the alert's shard over (or this one after a restart) would send it again.
        task = self._loop.create_task(self._mark_now(mark))
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _mark_now(self, mark: Callable[[Session], None]) -> None:
        def write() -> None:
            with Session(self.db) as session, session.begin():
                mark(session)

        try:
            await asyncio.to_thread(write)
        except Exception:  # the database is away: the writer keeps it and retries
            self.tasks.put_task(mark)

    # -- operator actions (event loop) -------------------------------------------------------
    def acknowledge(self, key: str, by: str) -> AlertRecord | None:
        """Stop the reminders of a firing alert until it resolves. None if it is not active."""
        record = self.records.get(key)
        if record is None:
            record = self.elsewhere.get(key)
            if record is None:
                return None
            # another process owns it: store the acknowledgement, its owner reads it at its next sync
            record = self.elsewhere[key] = replace(record, acknowledged_by=by or "api")
            acked_by = record.acknowledged_by
            self.tasks.put_task(lambda s: alert_queries.acknowledge(s, key=key, by=acked_by, now=time.time()))
            return record
        record = replace(record, acknowledged_by=by or "api")
        self.records[key] = record
        self._persist([_row_from_record(record, time.time())], [], [], [])
        return record

    async def add_silence(self, *, matchers: Mapping[str, str | list[str]], starts_at: datetime | None,
                          ends_at: datetime | None, duration: float | None, comment: str = "",
                          created_by: str = "") -> Silence:
        """Store a silence (from `starts_at`, default now, to `ends_at` or for `duration`
        seconds), take it into force at once and re-evaluate. SilenceRefused when it would end
        before it starts or before now."""
        now = datetime.now(UTC)
        starts = starts_at or now
        ends = ends_at or starts + timedelta(seconds=duration or 0)
        if ends <= starts or ends <= now:
            raise SilenceRefused("a silence must end after it starts and after now")
        row = {"id": uuid.uuid4().hex, "matchers": dict(matchers), "starts_at": starts, "ends_at": ends,
               "created_by": created_by, "comment": comment, "created_at": now, "deleted_at": None}
        await self._change_silences(lambda session: alert_queries.add_silence(session, row=row))
        return next(s for s in self.silences.api if s.id == row["id"])

    async def remove_silence(self, silence_id: str) -> bool:
        """End a current silence now (it stays on record) and re-evaluate. False if there is none."""
        return await self._change_silences(
            lambda session: alert_queries.delete_silence(session, silence_id=silence_id, now=time.time()))

    async def _change_silences(self, change: Callable[[Session], bool | None]) -> bool:
        """Apply `change` in its own transaction (in a thread), then load the current silences
        into force and wake the evaluation. What `change` returned, None counting as done."""

        def write() -> tuple[bool | None, list]:
            with Session(self.db) as session, session.begin():
                done = change(session)
            with Session(self.db, expire_on_commit=False) as session:
                rows = alert_queries.current_silences(session, now=time.time())
                session.expunge_all()
            return done, rows

        done, rows = await asyncio.to_thread(write)
        if done is False:
            return False
        self.silences.set_api(silence_from_row(r) for r in rows)
        self._wake.set()
        return True

    # -- Alertmanager re-sends ---------------------------------------------------------------
    def _refresh_alertmanagers(self, now: float) -> None:
        cfg = self.config
        for receiver in cfg.receivers:
            if receiver.kind != "alertmanager" or now < self._refresh_due.get(receiver.name, 0.0):
                continue
            running = self._refreshing.get(receiver.name)
            if running is not None and not running.done():
                continue
            self._refresh_due[receiver.name] = now + receiver.resend_interval
            names = [x.name for x in cfg.receivers]
            payloads = [r.payload for r in self.records.values()
                        if r.status == machine.FIRING and r.notified and r.payload
                        and receiver.name in route(cfg.routes, r.payload["alert"]["labels"], names)]
            if payloads:
                self._refreshing[receiver.name] = asyncio.create_task(self._refresh(receiver, payloads))

    async def _refresh(self, receiver: Any, payloads: list[Mapping]) -> None:
        try:
            await alertmanager.refresh(receiver, payloads, self.sender.client_for(receiver))
        except Exception as exc:
            log.warning("re-sending %d firing alerts to %s failed: %s", len(payloads), receiver.name,
                        getattr(exc, "reason", type(exc).__name__))


def _record_from_row(row: Any) -> AlertRecord:
    def ts(value: Any) -> float | None:
        return None if value is None else value.timestamp()

    return AlertRecord(row.key, row.status, row.episode_start.timestamp(), row.seq, row.notified, ts(row.fired_at),
                       ts(row.last_notified_at), ts(row.resolved_at), row.acknowledged_by, row.suppressed_by,
                       row.payload or {})


def _row_from_record(record: AlertRecord, now: float) -> dict[str, Any]:
    return {"key": record.key, "status": record.status, "episode_start": record.episode_start, "seq": record.seq,
            "notified": record.notified, "fired_at": record.fired_at, "last_notified_at": record.last_notified_at,
            "resolved_at": record.resolved_at, "acknowledged_by": record.acknowledged_by,
            "suppressed_by": record.suppressed_by, "payload": dict(record.payload), "updated_at": now}


def silence_from_row(row: Any) -> Silence:
    return Silence(row.id, row.matchers, row.starts_at.timestamp(), row.ends_at.timestamp(), row.comment,
                   row.created_by, "api")
