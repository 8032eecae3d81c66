"""Instants at the service's edges, in one place: the time-zone rule (an instant without an offset
is UTC; every instant is handed on as an aware UTC datetime), the bounded instant type the API, the
UI and the config file accept, unix seconds to an instant, and the ISO 8601 text of payloads and
pages. Integer milliseconds live only inside storage/ (storage.mstime)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["EARLIEST", "LATEST", "UtcDatetime", "UtcInstant", "as_utc", "bounded_utc", "from_unix", "iso_text"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""Stored times are unix seconds: nothing is older, and year-1 instants broke the arithmetic."""
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Far past any real instant, and far enough from datetime.max (year 9999) that adding the longest
range, silence or maintenance window to it cannot overflow."""


def as_utc(value: datetime) -> datetime:
    """The one time-zone rule: no offset given means UTC; an aware instant is converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bounded_utc(value: datetime) -> datetime:
    """An aware UTC instant within [EARLIEST, LATEST); no offset given means UTC."""
    try:
        utc = as_utc(value)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"an instant from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC) is expected")
    return utc


UtcInstant = Annotated[datetime, AfterValidator(bounded_utc)]
"""ISO 8601 in a query, a body or the config: aware UTC, bounded; the error names the field."""
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""An aware UTC instant without bounds (config silences, kept as they always were accepted)."""


def from_unix(ts: float | datetime | None) -> datetime | None:
    """Unix seconds (the engine's and the alert machine's clock) as an aware UTC datetime; an
    instant given already goes through the time-zone rule; None stays None."""
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return as_utc(ts)
    return datetime.fromtimestamp(ts, tz=UTC)


def iso_text(ts: float | datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a 'Z' ('2026-11-27T12:00:00.000Z'): the webhook payload's
    and the public page's format."""
    when = from_unix(ts)
    return None if when is None else when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
