"""What the history queries return: typed, documented records (the JSON API serves them as they
are, so these descriptions are also the OpenAPI's). Times are aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["up", "degraded", "down", "unknown"]
Resolution = Literal["raw", "5m", "1h", "1d"]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Change(_Out):
    """One recorded change of confirmed state."""

    kind: Literal["check", "component"]
    subject: str = Field(description="the check id or the component name")
    time: datetime
    old: State
    new: State
    reason: str = Field(description="the result's reason that confirmed the new state "
                                    "(for a component: '<check id>: <reason>')")


class ResultAt(_Out):
    """A stored raw result (kept for `retention.raw`)."""

    time: datetime
    status: State
    latency: float | None = Field(description="seconds")
    reason: str


class MaintenanceOccurrence(_Out):
    """One occurrence of a maintenance window."""

    window_id: int
    name: str
    reason: str
    source: Literal["config", "api"]
    start: datetime
    end: datetime
    components: list[str] = Field(description="component name patterns (fnmatch) covered")
    checks: list[str] = Field(description="check id patterns (fnmatch) covered")


class CheckAt(_Out):
    """A check as it stood at the snapshot's instant."""

    id: str
    component: str
    name: str
    kind: str
    retired: bool = Field(description="no longer configured now (its history is kept)")
    state: State = Field(description="confirmed state at the instant; unknown while none was recorded yet "
                                     "(configured, not judged: `change` is null)")
    since: datetime | None = Field(description="when that state began")
    reason: str
    change: Change | None = Field(description="the change that put the check in that state")
    last_result: ResultAt | None = Field(
        description="the last result at or before the instant; null when none is kept (older than retention.raw)")
    maintenance: bool = Field(description="a maintenance window covering the check was open")


class ComponentAt(_Out):
    """A component as it stood at the snapshot's instant: the worst state of its checks."""

    id: str
    state: State
    since: datetime | None
    reason: str
    change: Change | None
    checks: dict[str, int] = Field(description="number of its checks in each state at the instant")
    maintenance: bool


class Snapshot(_Out):
    """The whole platform at one instant, and where the nearest changes are (for stepping)."""

    at: datetime
    checks: list[CheckAt]
    components: list[ComponentAt]
    previous_change: Change | None = Field(description="the last check state change strictly before `at`")
    next_change: Change | None = Field(description="the first check state change strictly after `at`")
    maintenance: list[MaintenanceOccurrence] = Field(description="windows open at `at`")


class Interval(_Out):
    """One state over [start, end), clipped to the window asked for. Time before the subject
    existed (was first configured) has no interval: that is no data, not `unknown`."""

    start: datetime
    end: datetime
    state: State
    since: datetime | None = Field(description="when this state began (before `start` if clipped)")
    reason: str


class SubjectTimeline(_Out):
    id: str = Field(description="the check id or the component name")
    component: str
    intervals: list[Interval] = Field(
        description="contiguous, from the window's start or from when the subject came to exist if later (unknown "
                    "until its first recorded state), to the window's end or a retired check's retirement")


class Timeline(_Out):
    """State intervals of components (and their checks) over a window, for drawing timelines."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    components: list[SubjectTimeline]
    checks: list[SubjectTimeline]
    maintenance: list[MaintenanceOccurrence]
    truncated: bool = Field(description="true when the interval limit was reached (checks are cut first)")


class HistoryPoint(_Out):
    """Runs and latency over [time, time + step), or one raw result when `status` is set.
    Buckets without runs are left out (a gap in the series)."""

    time: datetime
    runs: int
    up: int
    degraded: int
    down: int
    unknown: int
    latency_mean: float | None = Field(description="seconds; up and degraded runs only")
    latency_p50: float | None = Field(description="seconds; interpolated from the latency histogram")
    latency_p95: float | None
    latency_max: float | None
    status: State | None = Field(default=None, description="raw points only: the result's status")
    reason: str | None = Field(default=None, description="raw points only")
    latency: float | None = Field(default=None, description="raw points only: the run's latency whatever its status")


class CheckHistory(_Out):
    """One check's latency and status series at a resolution chosen from the range."""

    check_id: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    resolution: Resolution = Field(description="the stored data the points come from")
    step_seconds: float | None = Field(
        description="width of one point, a round value (1, 2, 5, 10, 15, 30 s or min; 1, 2, 3, 6, 12 h; 1, 2, 5, "
                    "10, 15, 30 … days) that is a multiple of the resolution; each point starts at a multiple of it "
                    "since the epoch (UTC); null: one point per raw result")
    points: list[HistoryPoint]
    states: list[Interval] = Field(description="the check's confirmed states over the window (none before it "
                                               "existed)")


class UptimeEntry(_Out):
    """Quality of service of one component or check over the window. Time figures leave out
    maintenance and the time before the subject existed (no data: neither measured nor unknown);
    availability counts degraded time as available and unknown time not at all."""

    id: str
    component: str
    slo: float = Field(description="target availability, percent")
    availability: float | None = Field(description="percent of the measured time not down; null if none measured")
    measured_seconds: float = Field(description="up + degraded + down time outside maintenance")
    up_seconds: float
    degraded_seconds: float
    down_seconds: float
    unknown_seconds: float = Field(description="time it existed without a judgement (before its first result, "
                                                "or no judgement possible), outside maintenance")
    maintenance_seconds: float
    error_budget_seconds: float = Field(description="downtime the SLO allows over the measured time")
    error_budget_remaining: float | None = Field(
        description="fraction of the error budget left: 1 = untouched, 0 = spent, negative = overspent")
    incidents: int = Field(description="not-up intervals overlapping the window, outside maintenance")
    mttr_seconds: float | None = Field(description="mean duration of the incidents that ended in the window")
    runs: int = Field(description="runs in the rollups overlapping the window")
    down_runs: int
    degraded_runs: int
    latency_mean: float | None
    latency_p50: float | None
    latency_p95: float | None


class Uptime(_Out):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    by: Literal["check", "component"]
    entries: list[UptimeEntry]


class IncidentReason(_Out):
    time: datetime
    check_id: str
    state: State
    reason: str


class IncidentOut(_Out):
    """An interval during which a component was not up."""

    component: str
    start: datetime
    end: datetime | None = Field(description="null while ongoing")
    ongoing: bool
    duration_seconds: float = Field(description="up to `end`, or to now while ongoing")
    worst: State
    checks: list[str] = Field(description="checks that went degraded or down during it")
    reasons: list[IncidentReason] = Field(description="their state changes, first ones first (at most 20)")
    maintenance_seconds: float = Field(description="how much of it fell in maintenance windows")


class DailySeries(_Out):
    """One value per day of `Overview.day_starts`, in the same order (columns, ready to plot)."""

    availability: list[float | None] = Field(description="percent; null for a day with nothing measured "
                                                         "(no data, all unknown or all maintenance)")
    degraded_seconds: list[float]
    down_seconds: list[float]
    unknown_seconds: list[float] = Field(description="time it existed without a judgement, outside maintenance")
    maintenance_seconds: list[float]
    worst: list[State | None] = Field(
        description="worst known state that lasted any time outside maintenance (unknown only if nothing else "
                    "did); null: no data (before the subject existed, or all in maintenance)")
    incidents: list[int] = Field(description="incidents overlapping the day (not wholly in maintenance)")


class OverviewComponent(_Out):
    id: str
    title: str | None = Field(default=None, description="display name from the config's `components`")
    group: str | None = Field(default=None, description="display group from the config's `components`")
    description: str = ""
    state: State
    since: datetime | None
    reason: str
    checks: dict[str, int] = Field(description="number of its checks in each state now")
    maintenance: bool
    slo: float
    availability: float | None = Field(description="over the whole period, percent")
    error_budget_remaining: float | None
    daily: DailySeries


class Overview(_Out):
    """What the status overview page shows: every current component now, and its daily uptime."""

    at: datetime
    days: int
    day_starts: list[datetime] = Field(description="00:00 UTC of each day, oldest first; today is the last")
    components: list[OverviewComponent]


class MaintenanceWindowOut(_Out):
    """A stored maintenance window and its occurrences in the range asked for."""

    id: int
    source: Literal["config", "api"] = Field(description="config windows are changed in the config file")
    name: str
    reason: str
    components: list[str]
    checks: list[str]
    start: datetime | None = Field(description="one-off: start; recurring: first possible day (null: no bound)")
    end: datetime | None = Field(description="one-off: end; recurring: last possible day (null: no bound)")
    every: Literal["day", "week", "month"] | None = Field(description="null for a one-off window")
    days: list[str | int] = Field(description="week: weekday names; month: days of the month")
    at: str | None = Field(description="local start time of each occurrence, HH:MM")
    duration_seconds: float | None
    timezone: str | None
    created_at: datetime
    retired_at: datetime | None = Field(description="config windows removed from the config: no occurrence after")
    occurrences: list[MaintenanceOccurrence]


class ChangeList(_Out):
    """Every check and component state change in a window, newest first."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    changes: list[Change]
    truncated: bool = Field(description="true when there were more than the limit (the newest are given)")


class CheckDaily(_Out):
    """One check's daily uptime over the last `days` UTC days, as `Overview` gives it for components."""

    check_id: str
    at: datetime
    days: int
    day_starts: list[datetime] = Field(description="00:00 UTC of each day, oldest first; today is the last")
    availability: float | None = Field(description="over the whole period, percent; null if nothing measured")
    daily: DailySeries


class CheckInfo(_Out):
    """A check as the catalogue knows it (every check ever configured)."""

    id: str
    name: str
    component: str
    kind: str
    retired: bool = Field(description="removed from the config (its history is kept)")
