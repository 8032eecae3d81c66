"""Alerting's reads and writes: alert states, events, the outbox, silences. Keyword-only
arguments; the caller owns the session and the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.alert_models import AlertEventRow, AlertOutboxRow, AlertStateRow, SilenceRow
from storage.db import insert_ignoring_duplicates
from storage.models import REASON_LENGTH

PENDING = "pending"


def save_alerts(
    session: Session,
    *,
    states: list[dict[str, Any]],
    events: list[dict[str, Any]],
    outbox: list[dict[str, Any]],
) -> None:
    """Store decided alert states with the events and outbox rows they caused, in the caller's
    transaction: all of them or none. Re-saving the same events and rows changes nothing."""
    for state in states:
        state = {**state, "suppressed_by": _cut(state.get("suppressed_by"))}
        session.merge(AlertStateRow(**state))
    if events:
        rows = [{**e, "suppressed_by": _cut(e.get("suppressed_by"))} for e in events]
        session.execute(insert_ignoring_duplicates(session.get_bind(), AlertEventRow), rows)
    if outbox:
        session.execute(insert_ignoring_duplicates(session.get_bind(), AlertOutboxRow), outbox)
    session.flush()


def _cut(text: str | None) -> str | None:
    return None if text is None else text[:REASON_LENGTH]


def acknowledge(session: Session, *, key: str, by: str, now: float) -> None:
    """Mark an active alert acknowledged (through a process that does not own it)."""
    session.execute(update(AlertStateRow).where(AlertStateRow.key == key, AlertStateRow.status != "resolved")
                    .values(acknowledged_by=by, updated_at=now))


def active_alert_states(session: Session) -> list[AlertStateRow]:
    """Alert states not resolved: what a restarted service must carry on from."""
    return list(session.scalars(select(AlertStateRow).where(AlertStateRow.status != "resolved")))


def pending_outbox(session: Session) -> list[tuple[AlertOutboxRow, dict[str, Any]]]:
    """Undelivered notifications with their event's payload, oldest first."""
    rows = session.execute(
        select(AlertOutboxRow, AlertEventRow.payload)
        .join(AlertEventRow, AlertEventRow.event_id == AlertOutboxRow.event_id)
        .where(AlertOutboxRow.outcome == PENDING)
        .order_by(AlertOutboxRow.id)
    ).all()
    return [(row, payload) for row, payload in rows]


def mark_delivery(
    session: Session,
    *,
    event_id: str,
    receiver: str,
    outcome: str,
    attempts: int,
    next_attempt_at: float,
    now: float,
    last_error: str | None = None,
) -> None:
    """Record one attempt's outcome (`pending` again when it will be retried). A final outcome is
    final: a late `pending` write of an earlier attempt does not reopen a delivered row."""
    session.execute(
        update(AlertOutboxRow)
        .where(AlertOutboxRow.event_id == event_id, AlertOutboxRow.receiver == receiver,
               AlertOutboxRow.outcome == PENDING)
        .values(
            outcome=outcome,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            delivered_at=now if outcome == "delivered" else None,
            last_error=last_error,
            updated_at=now,
        )
    )


def recent_deliveries(session: Session, *, limit: int = 100) -> list[AlertOutboxRow]:
    """The latest notifications, newest first, whatever their outcome."""
    return list(session.scalars(select(AlertOutboxRow).order_by(AlertOutboxRow.id.desc()).limit(limit)))


def alert_events(session: Session, *, key: str | None = None, limit: int = 100) -> list[AlertEventRow]:
    """Alert events (notified or suppressed), newest first."""
    query = select(AlertEventRow)
    if key is not None:
        query = query.where(AlertEventRow.key == key)
    return list(session.scalars(query.order_by(AlertEventRow.at.desc()).limit(limit)))


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """(receiver, outcome) → number of outbox rows."""
    rows = session.execute(
        select(AlertOutboxRow.receiver, AlertOutboxRow.outcome, func.count()).group_by(
            AlertOutboxRow.receiver, AlertOutboxRow.outcome
        )
    ).all()
    return {(r, o): n for r, o, n in rows}


def add_silence(session: Session, *, row: dict[str, Any]) -> None:
    session.add(SilenceRow(**row))
    session.flush()


def current_silences(session: Session, *, now: datetime | float) -> list[SilenceRow]:
    """Silences not deleted and not yet ended (active or in the future)."""
    return list(
        session.scalars(
            select(SilenceRow)
            .where(SilenceRow.deleted_at.is_(None), SilenceRow.ends_at > now)
            .order_by(SilenceRow.starts_at)
        )
    )


def delete_silence(session: Session, *, silence_id: str, now: float) -> bool:
    """End a silence now (kept for the record). False if there is no such current silence."""
    result = session.execute(
        update(SilenceRow)
        .where(SilenceRow.id == silence_id, SilenceRow.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return result.rowcount > 0


def alert_events_between(
    session: Session, *, keys: list[str], start: datetime, end: datetime, limit: int = 1000
) -> list[AlertEventRow]:
    """Alert events of the given keys ("check:<id>", "component:<name>") with start <= at <
    end, oldest first, at most `limit`: what was alerted during an incident."""
    if not keys:
        return []
    query = select(AlertEventRow).where(AlertEventRow.key.in_(keys), AlertEventRow.at >= start, AlertEventRow.at < end)
    return list(session.scalars(query.order_by(AlertEventRow.at).limit(limit)))


def deliveries_of(session: Session, *, event_ids: list[str]) -> dict[tuple[str, str], AlertOutboxRow]:
    """(event id, receiver) → its outbox row, for the given events."""
    if not event_ids:
        return {}
    rows = session.scalars(select(AlertOutboxRow).where(AlertOutboxRow.event_id.in_(event_ids)))
    return {(r.event_id, r.receiver): r for r in rows}
