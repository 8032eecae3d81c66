"""Bounds of the instants the service accepts from outside (API, UI, config file): one validator,
so a year-1 or year-9999 instant is a located error everywhere instead of an overflow later."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""Stored times are unix seconds: nothing is older, and year-1 instants broke the arithmetic."""
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Far past any real instant, and far enough from datetime.max (year 9999) that adding the longest
range, silence or maintenance window to it cannot overflow."""


def bounded_utc(value: datetime) -> datetime:
    """An aware UTC instant within [EARLIEST, LATEST); no offset given means UTC."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"an instant from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC) is expected")
    return utc


UtcInstant = Annotated[datetime, AfterValidator(bounded_utc)]
"""ISO 8601 in a query, a body or the config: aware UTC, bounded; the error names the field."""
