"""What every table module shares: the declarative base, the stored-time type and the length
limits. Times are stored as integer milliseconds since the epoch (UTC): portable, compact,
index-friendly, and free of the time-zone traps of MySQL's DATETIME; Python sees aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

ID_LENGTH = 400  # "<component>/<name>", each part at most 200 characters
REASON_LENGTH = 1000  # reasons are short by design; longer text is cut, never rejected


class EpochMs(TypeDecorator[datetime]):
    """datetime (aware, UTC) ↔ BIGINT milliseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return round(value.timestamp() * 1000)
        return round(float(value) * 1000)  # unix seconds

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(value / 1000, tz=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}
