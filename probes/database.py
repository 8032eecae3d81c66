"""What the postgres, mysql and redis probes share: expected-role and replication-lag settings and
their judgement, the driver-missing reason, connect timeouts kept under the runner's. No I/O here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from probes.base import Duration, Result, Status, format_duration

__all__ = [
    "LagLevels",
    "Phases",
    "Role",
    "connect_timeout",
    "driver_missing",
    "judge_replication",
]

Role = Literal["primary", "replica"]

# Share of the check's timeout a driver may spend connecting: its own timeout then fires before the
# runner's, and the reason names the connect phase instead of a bare "timeout after 10s".
CONNECT_TIMEOUT_SHARE = 0.8
MIN_CONNECT_TIMEOUT = 1.0  # seconds; libpq counts whole seconds and treats below 2 as 2


class LagLevels(BaseModel):
    """Replication lag thresholds of a replica: above `warn` degraded, above `critical` down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: Duration | None = None
    critical: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LagLevels:
        if self.warn is not None and self.critical is not None and self.warn > self.critical:
            raise ValueError("warn must not be above critical")
        return self


def connect_timeout(check_timeout: float) -> float:
    """Seconds a driver may spend connecting in a run bounded by `check_timeout`."""
    return max(MIN_CONNECT_TIMEOUT, check_timeout * CONNECT_TIMEOUT_SHARE)


def driver_missing(extra: str) -> Result:
    """The result of a run whose optional driver is not installed."""
    return Result.down(f"driver not installed: pip install 'platform-monitor[{extra}]'")


class Phases(dict[str, float]):
    """Per-phase durations of one run, in seconds (`details["phases"]`), filled by `timed()`."""

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[phase] = round(time.perf_counter() - started, 6)


def judge_replication(
    *, role: Role, expected: Role | None, lag: float | None, levels: LagLevels | None, lag_known: bool = True
) -> tuple[Status, str]:
    """Status and reason from a server's role and (for a replica) its replication lag in seconds.
    `lag_known=False` (or `lag` None) on a replica means the lag could not be measured."""
    if expected is not None and role != expected:
        return Status.DOWN, f"role is {role} (expected {expected})"
    if role != "replica" or levels is None or (levels.warn is None and levels.critical is None):
        return Status.UP, role
    if lag is None or not lag_known:
        return Status.DEGRADED, "replica: replication lag unknown"
    shown = format_duration(round(max(lag, 0.0), 3))
    if levels.critical is not None and lag > levels.critical:
        return Status.DOWN, f"replication lag {shown} (> {format_duration(levels.critical)} critical)"
    if levels.warn is not None and lag > levels.warn:
        return Status.DEGRADED, f"replication lag {shown} (> {format_duration(levels.warn)} warn)"
    return Status.UP, f"replica, lag {shown}"
