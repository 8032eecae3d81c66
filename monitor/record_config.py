"""Config sections for the history: `retention`, `components` (SLO and display settings) and
`maintenance` windows; the API's maintenance body reuses the window model. Validation only:
storing and applying them belongs to storage and monitor.housekeeping."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from monitor.instants import UtcInstant
from probes.base import Duration, parse_duration
from storage.maintenance import WEEKDAYS
from storage.retention import Retention
from storage.uptime import DEFAULT_SLO

__all__ = ["ComponentConfig", "MaintenanceIn", "MaintenanceWindow", "RetentionConfig", "component_entry",
           "component_settings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _keep_for(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("forever", "for ever")):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a retention: a duration like 7d or 400d, or forever") from None


KeepFor = Annotated[float | None, BeforeValidator(_keep_for)]
"""A retention window: a duration (`7d`, `400d`), or `forever` / null to keep for ever."""


def _seconds(td: timedelta | None) -> float | None:
    return None if td is None else td.total_seconds()


_DEFAULTS = Retention()


class RetentionConfig(_Model):
    """How long each kind of history is kept (storage.retention has the reasons for defaults)."""

    raw: KeepFor = _seconds(_DEFAULTS.raw)
    rollup_5m: KeepFor = _seconds(_DEFAULTS.rollup_5m)
    rollup_1h: KeepFor = _seconds(_DEFAULTS.rollup_1h)
    rollup_1d: KeepFor = _seconds(_DEFAULTS.rollup_1d)
    state_changes: KeepFor = _seconds(_DEFAULTS.state_changes)
    alert_events: KeepFor = _seconds(_DEFAULTS.alert_events)
    """Alert events, and API silences over before the same cutoff."""
    alert_outbox: KeepFor = _seconds(_DEFAULTS.alert_outbox)
    """Finished notification deliveries (pending ones are always kept)."""

    @model_validator(mode="after")
    def _ordered(self) -> RetentionConfig:
        self.to_retention()  # raises ValueError with the rule that is broken
        return self

    def to_retention(self) -> Retention:
        def td(seconds: float | None) -> timedelta | None:
            return None if seconds is None else timedelta(seconds=seconds)

        return Retention(raw=td(self.raw), rollup_5m=td(self.rollup_5m), rollup_1h=td(self.rollup_1h),
                         rollup_1d=td(self.rollup_1d), state_changes=td(self.state_changes),
                         alert_events=td(self.alert_events), alert_outbox=td(self.alert_outbox))


class ComponentConfig(_Model):
    """Settings of one component (or of every component matching the key as a pattern)."""

    slo: float = Field(default=DEFAULT_SLO, gt=0, lt=100)
    """Target availability in percent (99.9 allows ~43 min of downtime per 30 days)."""
    title: str | None = None
    """Display name in the UI (default: the component's name)."""
    group: str | None = None
    """Heading the public status page groups the component under (groups in file order)."""
    description: str = ""
    """A sentence for readers, shown under the title on the status page and the component page."""


def component_settings(components: dict[str, ComponentConfig], name: str) -> ComponentConfig:
    """The settings of component `name`: its own entry, else the first key (in file order) that
    matches it as an fnmatch pattern (`cluster-*/control-plane`, `*`), else the defaults."""
    return component_entry(components, name)[1]


def component_entry(components: dict[str, ComponentConfig], name: str) -> tuple[int, ComponentConfig]:
    """The settings of component `name` (as component_settings) and the file position of the entry
    they come from: len(components) for the defaults. Pages list components in this order."""
    if name in components:
        return list(components).index(name), components[name]
    for position, (pattern, settings) in enumerate(components.items()):
        if fnmatchcase(name, pattern):
            return position, settings
    return len(components), ComponentConfig()


UtcDatetime = UtcInstant  # no offset given: UTC; bounded (monitor.instants)
WINDOW_LONGEST = timedelta(days=3660)
"""Ten years: a longer maintenance occurrence is a mistake (and `99999999d` overflowed the dates)."""


def _clock(value: Any) -> Any:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 2:00 as the number 120
        raise ValueError('write the time of day in quotes, e.g. at: "02:00"')
    if not isinstance(value, str) or not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
        raise ValueError('a time of day "HH:MM" (24-hour clock) is expected')
    return value.strip()


_DAY_NAMES = {**{d: d for d in WEEKDAYS}, **{d[:3]: d for d in WEEKDAYS}}


class _WindowBase(_Model):
    name: str = Field(default="", max_length=200)
    reason: str = ""
    components: list[str] = Field(default_factory=list, description="component name patterns (fnmatch)")
    checks: list[str] = Field(default_factory=list, description="check id patterns (fnmatch)")
    start: UtcDatetime | None = Field(default=None, description="one-off: start; recurring: first possible day")
    end: UtcDatetime | None = Field(default=None, description="one-off: end; recurring: no occurrence after")
    every: Literal["day", "week", "month"] | None = Field(default=None, description="makes the window recurring")
    days: list[str | int] | str | int | None = Field(
        default=None, description="week: weekday names (monday, sun ...); month: days of the month (1-31). "
        "(Not `on`: YAML 1.1 reads an unquoted `on` key as true.)")
    at: Annotated[str, BeforeValidator(_clock)] | None = Field(default=None, description='"HH:MM" local time')
    duration: Duration | None = Field(default=None, gt=0, le=WINDOW_LONGEST.total_seconds(),
                                      description="length of each occurrence (or of a one-off)")
    timezone: str = Field(default="UTC", description="IANA time zone of `at` (recurring windows)")

    @model_validator(mode="after")
    def _consistent(self) -> _WindowBase:
        if not self.components and not self.checks:
            raise ValueError("name at least one component or check (patterns such as 'cluster-a/*' work)")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
            raise ValueError(f"unknown time zone {self.timezone[:100]!r} (use an IANA name like Europe/Paris)"
                             ) from None
        if self.every is None:
            if self.days is not None or self.at is not None:
                raise ValueError("`days` and `at` belong to recurring windows: add `every` (day, week or month)")
            if self.start is None or (self.end is None and self.duration is None):
                raise ValueError("a one-off window needs `start` and `end` (or `duration`)")
        else:
            if self.at is None or not self.duration:
                raise ValueError("a recurring window needs `at` (\"HH:MM\") and `duration`")
            self._days()  # validates `days`
        start, end = self.start, self._end()
        if start is not None and end is not None and end <= start:
            raise ValueError("`end` must be after `start`")
        return self

    def _end(self) -> datetime | None:
        if self.end is not None or self.every is not None:
            return self.end
        return self.start + timedelta(seconds=self.duration or 0) if self.start else None

    def _days(self) -> list[str | int]:
        values = [] if self.days is None else self.days if isinstance(self.days, list) else [self.days]
        if self.every == "day":
            if values:
                raise ValueError("`days` is not used with every: day")
            return []
        if not values:
            raise ValueError(f"every: {self.every} needs `days` "
                             f"({'weekday names' if self.every == 'week' else 'days of the month'})")
        if self.every == "week":
            names = [_DAY_NAMES.get(str(v).strip().lower()) for v in values]
            if None in names:
                raise ValueError(f"`days`: weekday names are expected (monday … sunday), got {values}")
            return sorted(set(names), key=WEEKDAYS.index)  # type: ignore[arg-type]
        days = []
        for v in values:
            if isinstance(v, bool) or not str(v).isdigit() or not 1 <= int(v) <= 31:
                raise ValueError(f"`days`: days of the month (1-31) are expected, got {v!r}")
            days.append(int(v))
        return sorted(set(days))

    def to_fields(self) -> dict[str, Any]:
        """The stored form (storage.maintenance.add_window)."""
        recurrence = None
        if self.every is not None:
            recurrence = {"every": self.every, "days": self._days(), "at": self.at, "duration": self.duration,
                          "timezone": self.timezone}
        return {"name": self.name, "reason": self.reason, "components": list(self.components),
                "checks": list(self.checks), "starts_at": self.start, "ends_at": self._end(),
                "recurrence": recurrence}


class MaintenanceWindow(_WindowBase):
    """A window in the config file: one-off (`start`, `end` or `duration`) or recurring (`every`,
    `days`, `at`, `duration`, `timezone`, optionally bounded by `start`/`end`). Its `name` is its
    key: edit it in place; remove it and its past occurrences still count as maintenance."""

    name: str = Field(min_length=1, max_length=200)


class MaintenanceIn(_WindowBase):
    """A window created through the API (same fields as in the config file; `name` optional)."""


def _unique_names(windows: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
    seen: dict[str, int] = {}
    for i, window in enumerate(windows):
        if window.name in seen:
            raise ValueError(f"[{seen[window.name]}] and [{i}] have the same name {window.name!r} (names are keys)")
        seen[window.name] = i
    return windows


MaintenanceList = Annotated[list[MaintenanceWindow], AfterValidator(_unique_names)]
