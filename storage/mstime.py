"""Integer milliseconds since the epoch (UTC): storage's own time unit. The constants, the SQL
coercion of a time column, floors and ceilings, and the conversions to and from aware datetimes.
Only storage speaks milliseconds; everything it returns to callers is an aware datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, type_coerce

__all__ = ["DAY_MS", "HOUR_MS", "ceil_to", "floor_to", "from_ms", "ms_col", "to_ms", "window_ms"]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000  # rollup days are UTC days


def ms_col(column: Any) -> Any:
    """A time column as its stored integer milliseconds (for arithmetic and comparison in SQL)."""
    return type_coerce(column, BigInteger)


def to_ms(value: datetime | int) -> int:
    """Milliseconds of an instant; a datetime without a zone is taken as UTC, an int is already ms."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def floor_to(ms: int, step: int) -> int:
    return ms - ms % step


def ceil_to(ms: int, step: int) -> int:
    return -(-ms // step) * step


def window_ms(window: timedelta | None) -> int | None:
    return None if window is None else int(window.total_seconds() * 1000)
