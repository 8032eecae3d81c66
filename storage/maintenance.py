"""Maintenance windows: stored windows (from the config file and from the API), their occurrences
in a time range, and which components and checks they cover. Windows are data here: validation
of what a user writes belongs to the config and API models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.intervals import merge_spans
from storage.rollup_models import MaintenanceRow

__all__ = [
    "WEEKDAYS",
    "MaintenanceIndex",
    "add_window",
    "delete_window",
    "list_windows",
    "occurrences",
    "sync_config_windows",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FIELDS = ("name", "reason", "components", "checks", "starts_at", "ends_at", "recurrence")


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _matches(day: date, recurrence: dict[str, Any]) -> bool:
    every = recurrence["every"]
    if every == "day":
        return True
    days = recurrence.get("days") or []
    if every == "week":
        return WEEKDAYS[day.weekday()] in days
    return day.day in days  # "month": days of the month


def occurrences(window: MaintenanceRow, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The window's occurrences [start, end) (ms) that overlap [start_ms, end_ms), unclipped.
    A recurring window yields the occurrences that begin inside its own bounds: from starts_at
    (when not set: from when it was stored, so that a new window does not rewrite the past) to
    ends_at and retired_at; one begun before retirement runs to its end."""
    lo, hi = _ms(window.starts_at), _ms(window.ends_at)
    rec = window.recurrence
    if rec is None:
        if lo is None or hi is None or hi <= start_ms or lo >= end_ms:
            return []
        return [(lo, hi)]
    if lo is None:  # a recurring window never reaches back before it was stored, unless `start` says so
        lo = _ms(window.created_at)
    retired = _ms(window.retired_at)
    if retired is not None:
        hi = retired if hi is None else min(hi, retired)
    duration = round(float(rec["duration"]) * 1000)
    zone = ZoneInfo(rec.get("timezone") or "UTC")
    hour, minute = (int(part) for part in rec["at"].split(":"))
    first = datetime.fromtimestamp((start_ms - duration) / 1000, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_ms / 1000, UTC).astimezone(zone).date()
    out = []
    day = first
    while day <= last:
        if _matches(day, rec):
            begin = round(datetime.combine(day, time(hour, minute), zone).timestamp() * 1000)
            if (lo is None or begin >= lo) and (hi is None or begin < hi) and begin < end_ms \
                    and begin + duration > start_ms:
                out.append((begin, begin + duration))
        day += timedelta(days=1)
    return out


@dataclass(slots=True)
class _Occurring:
    window: MaintenanceRow
    spans: list[tuple[int, int]]  # clipped to the index's range
    whole: list[tuple[int, int]]  # as they are


class MaintenanceIndex:
    """The occurrences of a set of windows over [start, end), answering per component and per
    check with merged, clipped ranges (ms). Build one per query: occurrences are computed once."""

    def __init__(self, windows: Iterable[MaintenanceRow], start_ms: int, end_ms: int) -> None:
        self.start, self.end = start_ms, end_ms
        self._items = [
            _Occurring(w, [(max(a, start_ms), min(b, end_ms)) for a, b in spans], spans)
            for w in windows
            if (spans := occurrences(w, start_ms, end_ms))
        ]
        self._cache: dict[tuple[str, str | None], list[tuple[int, int]]] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def for_component(self, component: str) -> list[tuple[int, int]]:
        """Ranges when windows naming the component (by pattern) were open."""
        return self._lookup(component, None)

    def for_check(self, check_id: str, component: str) -> list[tuple[int, int]]:
        """Ranges when windows naming the check, or its component, were open."""
        return self._lookup(component, check_id)

    def _lookup(self, component: str, check_id: str | None) -> list[tuple[int, int]]:
        key = (component, check_id)
        if key not in self._cache:
            self._cache[key] = merge_spans(
                span
                for item in self._items
                if _covers(item.window, component, check_id)
                for span in item.spans
            )
        return self._cache[key]

    def occurring(self) -> list[tuple[MaintenanceRow, int, int]]:
        """Every occurrence overlapping the range, unclipped, in time order."""
        found = [(item.window, a, b) for item in self._items for a, b in item.whole]
        return sorted(found, key=lambda o: (o[1], o[0].id))

    def open_at(self, ms: int) -> list[MaintenanceRow]:
        """The windows with an occurrence open at `ms`."""
        return [item.window for item in self._items if any(a <= ms < b for a, b in item.spans)]


def _covers(window: MaintenanceRow, component: str, check_id: str | None) -> bool:
    if any(fnmatchcase(component, pattern) for pattern in window.components or ()):
        return True
    return check_id is not None and any(fnmatchcase(check_id, pattern) for pattern in window.checks or ())


def covers(window: MaintenanceRow, component: str, check_id: str | None = None) -> bool:
    """Whether the window applies to the component (check_id None) or to the check."""
    return _covers(window, component, check_id)


# -- stored windows ----------------------------------------------------------------------------
def list_windows(session: Session, *, include_retired: bool = True) -> list[MaintenanceRow]:
    """Every stored window, oldest first."""
    query = select(MaintenanceRow).order_by(MaintenanceRow.id)
    if not include_retired:
        query = query.where(MaintenanceRow.retired_at.is_(None))
    return list(session.scalars(query))


def add_window(session: Session, *, fields: dict[str, Any], now: float, source: str = "api") -> MaintenanceRow:
    """Store a window. `fields`: name, reason, components, checks, starts_at, ends_at (aware
    datetimes or None), recurrence (dict or None), and for config windows config_key."""
    row = MaintenanceRow(
        source=source,
        config_key=fields.get("config_key"),
        created_at=datetime.fromtimestamp(now, UTC),
        retired_at=None,
        **{name: fields.get(name) for name in _FIELDS},
    )
    row.name, row.reason = row.name or "", row.reason or ""
    row.components, row.checks = list(row.components or []), list(row.checks or [])
    session.add(row)
    session.flush()
    return row


def current_window_named(session: Session, *, name: str) -> MaintenanceRow | None:
    """The window (from the config file or the API, not retired) that has this name, if any:
    names are keys."""
    return session.scalars(select(MaintenanceRow).where(MaintenanceRow.name == name,
                                                        MaintenanceRow.retired_at.is_(None)).limit(1)).first()


class WindowInConfig(ValueError):
    """A window defined in the config file cannot be deleted through the API while it is there."""


def delete_window(session: Session, *, window_id: int) -> MaintenanceRow | None:
    """Delete a window (its past occurrences count again in uptime figures). Returns the deleted
    row, None if there is none; raises WindowInConfig for a window the config file defines."""
    row = session.get(MaintenanceRow, window_id)
    if row is None:
        return None
    if row.source == "config" and row.retired_at is None:
        raise WindowInConfig(f"maintenance window {window_id} ({row.name}) is defined in the config file: "
                             "remove it there")
    session.delete(row)
    session.flush()
    return row


def sync_config_windows(session: Session, *, windows: Sequence[dict[str, Any]], now: float) -> None:
    """Make the stored config windows match the config: new ones added, changed ones updated in
    place (keyed by name), ones no longer configured retired (their past occurrences stay)."""
    stored = {row.config_key: row for row in session.scalars(
        select(MaintenanceRow).where(MaintenanceRow.source == "config"))}
    wanted = {w["name"]: w for w in windows}
    moment = datetime.fromtimestamp(now, UTC)
    for key, fields in wanted.items():
        row = stored.get(key)
        if row is None:
            add_window(session, fields={**fields, "config_key": key}, now=now, source="config")
            continue
        changed = {n: fields.get(n) for n in _FIELDS if _differs(getattr(row, n), fields.get(n))}
        if changed or row.retired_at is not None:
            for name, value in changed.items():
                setattr(row, name, value)
            row.retired_at = None
    for key, row in stored.items():
        if key not in wanted and row.retired_at is None:
            row.retired_at = moment
    session.flush()


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, datetime) or isinstance(wanted, datetime):
        return _ms(stored) != _ms(wanted)
    return (stored or None) != (wanted or None)
