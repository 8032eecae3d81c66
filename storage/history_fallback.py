"""Read queries the status-history UI answers from the raw change tables (state changes, component
changes, the check catalogue): correct for any range, slower than rollups. The UI's fallbacks until
the history backend serves snapshots, timelines and uptime; keyword-only, the caller owns the session."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storage.models import CheckRow, ComponentChangeRow, StateChangeRow

__all__ = [
    "check_catalog",
    "check_states_at",
    "component_changes",
    "component_states_at",
    "neighbour_change",
    "state_changes_of",
]

ChangeRow = StateChangeRow | ComponentChangeRow


def check_catalog(session: Session, *, at: datetime | None = None) -> list[CheckRow]:
    """Checks known to storage, by id. With `at`: those that existed then (first seen at or
    before `at`, not retired by then), so a replay shows checks since removed from the config."""
    query = select(CheckRow).order_by(CheckRow.id)
    if at is not None:
        query = query.where(CheckRow.first_seen <= at).where(
            or_(CheckRow.retired_at.is_(None), CheckRow.retired_at > at)
        )
    return list(session.scalars(query))


def _states_at(session: Session, model: type[ChangeRow], subject: str, at: datetime,
               subjects: list[str] | None) -> dict[str, tuple[str, datetime, str]]:
    key = getattr(model, subject)
    last = select(key.label("subject"), func.max(model.ts).label("ts")).where(model.ts <= at)
    if subjects is not None:
        last = last.where(key.in_(subjects))
    last = last.group_by(key).subquery()
    rows = session.execute(
        select(key, model.new, model.ts, model.reason).join(
            last, (key == last.c.subject) & (model.ts == last.c.ts)
        )
    ).all()
    return {row[0]: (row.new, row.ts, row.reason) for row in rows}


def check_states_at(
    session: Session, *, at: datetime, check_ids: list[str] | None = None
) -> dict[str, tuple[str, datetime, str]]:
    """Each check's confirmed state at `at`: id → (state, since, reason) of its last change at or
    before `at`. Checks with no change by then are absent (no data)."""
    return _states_at(session, StateChangeRow, "check_id", at, check_ids)


def component_states_at(
    session: Session, *, at: datetime, components: list[str] | None = None
) -> dict[str, tuple[str, datetime, str]]:
    """Each component's derived status at `at`: name → (status, since, reason)."""
    return _states_at(session, ComponentChangeRow, "component", at, components)


def state_changes_of(
    session: Session, *, check_ids: list[str] | None = None, start: datetime, end: datetime
) -> list[StateChangeRow]:
    """Check state changes in [start, end), oldest first, for the given checks (all when None).
    Unbounded by design: changes are few (one per change of state, not per run)."""
    query = select(StateChangeRow).where(StateChangeRow.ts >= start, StateChangeRow.ts < end)
    if check_ids is not None:
        query = query.where(StateChangeRow.check_id.in_(check_ids))
    return list(session.scalars(query.order_by(StateChangeRow.ts, StateChangeRow.id)))


def component_changes(
    session: Session, *, components: list[str] | None = None, start: datetime, end: datetime
) -> list[ComponentChangeRow]:
    """Component status changes in [start, end), oldest first (all components when None)."""
    query = select(ComponentChangeRow).where(ComponentChangeRow.ts >= start, ComponentChangeRow.ts < end)
    if components is not None:
        query = query.where(ComponentChangeRow.component.in_(components))
    return list(session.scalars(query.order_by(ComponentChangeRow.ts, ComponentChangeRow.id)))


def neighbour_change(
    session: Session, *, at: datetime, direction: Literal["previous", "next"]
) -> datetime | None:
    """The time of the nearest check or component change strictly before (`previous`) or after
    (`next`) `at`, or None when there is none: the replay's step buttons."""
    times = []
    for model in (StateChangeRow, ComponentChangeRow):
        if direction == "previous":
            query = select(func.max(model.ts)).where(model.ts < at)
        else:
            query = select(func.min(model.ts)).where(model.ts > at)
        found = session.scalar(query)
        if found is not None:
            times.append(found)
    if not times:
        return None
    return max(times) if direction == "previous" else min(times)
