"""Retention: how long each kind of history is kept, and the deletion of what is older. Never
deletes raw results the rollups have not taken in yet, the state change that gives a check its
state at the edge of the kept window, a notification still to deliver (or its event), current
alert states or silences not yet over. Knows nothing of scheduling or config files."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from storage import alert_queries, rollups
from storage.alert_models import AlertEventRow, AlertOutboxRow, SilenceRow
from storage.audit_models import AuditRow
from storage.models import ComponentChangeRow, ResultRow, StateChangeRow
from storage.mstime import HOUR_MS, ms_col
from storage.packed_models import PackedResultRow
from storage.rollup_models import ComponentRollup1d, Rollup1d, Rollup1h, Rollup5m

__all__ = [
    "ALERT_EVENTS_RETENTION",
    "ALERT_OUTBOX_RETENTION",
    "FINISHED_OUTCOMES",
    "RAW_RETENTION",
    "ROLLUP_1D_RETENTION",
    "ROLLUP_1H_RETENTION",
    "ROLLUP_5M_RETENTION",
    "STATE_CHANGES_RETENTION",
    "Retention",
    "apply_retention",
]

log = logging.getLogger(__name__)

RAW_RETENTION: timedelta | None = timedelta(days=7)
"""Every single run of the last week, for looking into an incident run by run; ~2,900 rows per
check per day at a 30 s interval, so the biggest table by far. The rollups keep the rest."""
ROLLUP_5M_RETENTION: timedelta | None = timedelta(days=35)
"""5-minute detail for a month and a bit: a monthly review can still zoom into any incident."""
ROLLUP_1H_RETENTION: timedelta | None = timedelta(days=400)
"""Hourly detail for a year and a month: this month against the same month last year."""
ROLLUP_1D_RETENTION: timedelta | None = None
"""Kept: ~400 bytes per check per day, and long-term SLO figures come from it."""
STATE_CHANGES_RETENTION: timedelta | None = None
"""Kept: they are the replay (the state of anything at any past instant) and the incidents."""
ALERT_EVENTS_RETENTION: timedelta | None = timedelta(days=400)
"""A year and a month of alert history (what fired, reminded, resolved, was held back and why),
like the hourly rollups: a yearly review can still tell what was alerted. API silences that were
over before the same cutoff go with it: once every event they could have held back is gone,
nothing refers to them ("suppressed_by: silence <id>"). The audit log (who silenced, acknowledged,
signed in) is kept as long: it is the other half of the same story."""
ALERT_OUTBOX_RETENTION: timedelta | None = timedelta(days=30)
"""Finished deliveries (FINISHED_OUTCOMES) for a month, counted from their last attempt: enough
to look into a receiver that failed. Later the incidents page lists an old event's receivers
without their outcome. A pending delivery is never deleted, however old."""

FINISHED_OUTCOMES = ("delivered", "rejected", "expired", "dropped")
"""Outbox outcomes the sender never looks at again (`pending` is the only other one: waiting, or
to be retried). Listed rather than "not pending", so an outcome added later is kept, not lost."""

RAW_CHUNK = timedelta(hours=1)  # rows deleted per transaction: ~120,000 for 1,000 checks at 30 s
ROLLUP_CHUNK = timedelta(days=1)
ALERT_CHUNK = timedelta(days=1)  # a day of events or deliveries per transaction: thousands in an alert storm
_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind is kept; None keeps it for ever. Longer grains must keep at least as
    long as finer ones (each is rebuilt from the one below it)."""

    raw: timedelta | None = RAW_RETENTION
    rollup_5m: timedelta | None = ROLLUP_5M_RETENTION
    rollup_1h: timedelta | None = ROLLUP_1H_RETENTION
    rollup_1d: timedelta | None = ROLLUP_1D_RETENTION
    state_changes: timedelta | None = STATE_CHANGES_RETENTION
    alert_events: timedelta | None = ALERT_EVENTS_RETENTION
    """Also the retention of API silences that are over and of the audit log (see ALERT_EVENTS_RETENTION)."""
    alert_outbox: timedelta | None = ALERT_OUTBOX_RETENTION
    """Finished deliveries only."""

    def __post_init__(self) -> None:
        order = [("raw", self.raw), ("rollup_5m", self.rollup_5m), ("rollup_1h", self.rollup_1h),
                 ("rollup_1d", self.rollup_1d)]
        for (short_name, short), (long_name, long) in itertools.pairwise(order):
            if long is not None and (short is None or short > long):
                raise ValueError(f"{long_name} must be kept at least as long as {short_name}")


def _delete_before(engine: Engine, column: Any, cutoff_ms: int, chunk: timedelta, *, where: tuple = ()) -> int:
    """Delete rows whose `column` < cutoff (and that meet every `where` condition), oldest first,
    one chunk of time per transaction. The oldest row is looked for among those that may go, so
    rows kept by `where` are stepped over rather than looked at again and again."""
    table = column.table
    step = int(chunk.total_seconds() * 1000)
    deleted = 0
    while True:
        with Session(engine) as session:
            oldest = session.scalar(select(func.min(ms_col(column))).where(*where))  # an index probe: jumps over gaps
        if oldest is None or oldest >= cutoff_ms:
            return deleted
        upto = min(oldest + step, cutoff_ms)
        with Session(engine) as session, session.begin():
            deleted += session.execute(delete(table).where(ms_col(column) < upto, *where)).rowcount or 0


def _delete_changes_before(engine: Engine, model: Any, subject: Any, cutoff_ms: int) -> int:
    """Delete changes older than cutoff, except each subject's last one before it (which says
    what state the subject was in at the cutoff)."""
    ts = ms_col(model.ts)
    deleted = 0
    with Session(engine) as session:
        latest = session.execute(select(subject, func.max(ts)).where(ts < cutoff_ms).group_by(subject)).all()
    for name, keep_ms in latest:
        with Session(engine) as session, session.begin():
            deleted += session.execute(delete(model).where(subject == name, ts < keep_ms)).rowcount or 0
    return deleted


def apply_retention(engine: Engine, *, now: float, retention: Retention) -> dict[str, int]:
    """Delete what is older than each window at `now` (unix seconds); returns rows deleted per
    table. A bucket goes once it has wholly ended before the cutoff; a raw result goes only once
    the rollups have taken it in (before their watermark, less rollups.LATE_MARGIN)."""
    now_ms = round(now * 1000)
    out: dict[str, int] = {}

    def cutoff(window: timedelta) -> int:
        return now_ms - int(window.total_seconds() * 1000)

    if retention.raw is not None:
        with Session(engine) as session:
            mark = rollups.get_mark(session)
        if mark is not None:
            safe = mark - int(rollups.LATE_MARGIN.total_seconds() * 1000)
            out["results"] = _delete_before(
                engine, ResultRow.__table__.c.ts, min(cutoff(retention.raw), safe), RAW_CHUNK
            )
            # a packed hour goes once it has wholly ended before the cutoff (hour + 1 h <= cutoff)
            packed = _delete_before(
                engine, PackedResultRow.__table__.c.hour, min(cutoff(retention.raw), safe) - HOUR_MS + 1,
                ROLLUP_CHUNK,
            )
            if packed:  # reported only when there was any: the report's keys stay as they were otherwise
                out["results_packed"] = packed
    for model, window, grain in (
        (Rollup5m, retention.rollup_5m, _HOUR),
        (Rollup1h, retention.rollup_1h, _HOUR),
        (Rollup1d, retention.rollup_1d, _DAY),
        (ComponentRollup1d, retention.rollup_1d, _DAY),
    ):
        if window is not None:
            table = model.__table__
            # bucket + grain <= cutoff  ⇔  bucket < cutoff - grain + 1 ms
            edge = cutoff(window + grain) + 1
            out[table.name] = _delete_before(engine, table.c.bucket, edge, ROLLUP_CHUNK)
    if retention.state_changes is not None:
        edge = cutoff(retention.state_changes)
        out["state_changes"] = _delete_changes_before(engine, StateChangeRow, StateChangeRow.check_id, edge)
        out["component_changes"] = _delete_changes_before(
            engine, ComponentChangeRow, ComponentChangeRow.component, edge
        )
    out.update(_alert_retention(engine, retention=retention, cutoff=cutoff))
    if any(out.values()):
        log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in out.items() if n))
    return out


def _alert_retention(
    engine: Engine, *, retention: Retention, cutoff: Callable[[timedelta], int]
) -> dict[str, int]:
    """Finished deliveries older than the outbox window (by their last attempt); events older
    than the events window unless a delivery of theirs is pending (the sender reads its payload
    from the event); API silences over before the events cutoff. Tables reported only when rows
    went: the report's keys stay as they were otherwise."""
    out: dict[str, int] = {}
    if retention.alert_outbox is not None:
        edge = cutoff(retention.alert_outbox)
        # stepped by created_at (indexed); updated_at is the last attempt, never before created_at
        finished = (AlertOutboxRow.outcome.in_(FINISHED_OUTCOMES), ms_col(AlertOutboxRow.updated_at) < edge)
        out["alert_outbox"] = _delete_before(engine, AlertOutboxRow.__table__.c.created_at, edge, ALERT_CHUNK,
                                             where=finished)
    if retention.alert_events is not None:
        edge = cutoff(retention.alert_events)
        pending = exists().where(AlertOutboxRow.event_id == AlertEventRow.event_id,
                                 AlertOutboxRow.outcome == alert_queries.PENDING)
        out["alert_events"] = _delete_before(engine, AlertEventRow.__table__.c.at, edge, ALERT_CHUNK,
                                             where=(~pending,))
        # a silence is over at its end, or when it was deleted (ended early); a handful of rows
        over = or_(ms_col(SilenceRow.ends_at) < edge,
                   and_(SilenceRow.deleted_at.is_not(None), ms_col(SilenceRow.deleted_at) < edge))
        with Session(engine) as session, session.begin():
            out["silences"] = session.execute(delete(SilenceRow).where(over)).rowcount or 0
        out["audit_log"] = _delete_before(engine, AuditRow.__table__.c.at, edge, ALERT_CHUNK)
    return {table: rows for table, rows in out.items() if rows}
