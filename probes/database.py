"""What the postgres, mysql and redis probes share: expected-role and replication-lag settings and
their judgement, the driver-missing reason, connect timeouts kept under the runner's. No I/O here."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from probes.base import Duration, Result, Status, format_duration

__all__ = [
    "LagLevels",
    "Phases",
    "Role",
    "connect_timeout",
    "driver_missing",
    "judge_replication",
    "run_in_thread",
]

T = TypeVar("T")

Role = Literal["primary", "replica"]

# Share of the check's timeout a driver may spend connecting: its own timeout then fires before the
# runner's, and the reason names the connect phase instead of a bare "timeout after 10s".
CONNECT_TIMEOUT_SHARE = 0.8


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
    return check_timeout * CONNECT_TIMEOUT_SHARE


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
    if role != "replica":
        return Status.UP, role
    judged = levels is not None and (levels.warn is not None or levels.critical is not None)
    if lag is None or not lag_known:
        return (Status.DEGRADED, "replica: replication lag unknown") if judged else (Status.UP, role)
    shown = format_duration(round(lag, 3)) if lag > 0 else "0s"
    if judged and levels.critical is not None and lag > levels.critical:
        return Status.DOWN, f"replication lag {shown} (> {format_duration(levels.critical)} critical)"
    if judged and levels.warn is not None and lag > levels.warn:
        return Status.DEGRADED, f"replication lag {shown} (> {format_duration(levels.warn)} warn)"
    return Status.UP, f"replica, lag {shown}"


async def run_in_thread(fn: Callable[[], T], name: str) -> T:
    """Run a blocking driver call on a thread of its own and await its result.

    Not the loop's default executor: its few workers are shared with the engine, and a server
    that hangs would queue healthy checks behind it. If the run is cancelled (the runner's
    timeout) the thread finishes on its own, bounded by the driver's own timeouts."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        value: T | None = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future
