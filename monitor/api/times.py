"""Time parameters of the API and of the UI's figure routes: the bounded instant type
(monitor.instants: outside its bounds a 422 names the parameter) and one check of a [from, to)
range; and, for the web layer, monitor.instants' ISO text. Parses; queries nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import HTTPException

from monitor.instants import UtcInstant, iso_text

__all__ = ["UtcInstant", "iso_text", "window"]

UNPROCESSABLE = 422  # Starlette renamed its constant; the number is what clients see


def window(start: datetime | None, end: datetime | None, *, now: datetime, default: timedelta,
           longest: timedelta) -> tuple[datetime, datetime]:
    """[start, end) from a request's optional bounds (already UtcInstant): `end` defaults to `now`,
    `start` to `end - default`. A 422 when start is not before end or the range is over `longest`."""
    end = end if end is not None else now
    start = start if start is not None else end - default
    if start >= end:
        raise HTTPException(UNPROCESSABLE, "`from` must be before `to`")
    if end - start > longest:
        raise HTTPException(UNPROCESSABLE, f"the range is longer than {longest.days} days")
    return start, end
