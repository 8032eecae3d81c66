"""What the service's parts see of each other: narrow, typed views that the composition root
(monitor.service.Service) hands out. A part gets the one thing it needs, never the engine or the
service; nothing here runs or stores anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from monitor.state import CheckState, ComponentState

if TYPE_CHECKING:  # for the annotation only: the config's modules must be free to import this one
    from monitor.config import Config

__all__ = ["ConfigSource", "EngineStats", "ReloadStats", "StateView", "StorageTasks", "WriterStats"]

ConfigSource = Callable[[], "Config"]
"""The config in force now. It changes on reload: call it each time, keep nothing it returns."""


class StateView(Protocol):
    """The confirmed state of every check and component, read-only (monitor.state.StateMachine)."""

    @property
    def checks(self) -> Mapping[str, CheckState]: ...

    @property
    def components(self) -> Mapping[str, ComponentState]: ...


class StorageTasks(Protocol):
    """Work for the storage writer's thread, run in order with the results (storage.writer.Writer)."""

    def put_task(self, task: Callable[[Session], Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class WriterStats:
    pending: int
    dropped: int
    rows_written: int
    failures: int
    up: bool
    """The database answers the watchdog's ping and the last write attempt succeeded."""


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A snapshot of the engine's own figures for the metrics collector (memory only)."""

    checks_configured: int
    probes_in_flight: int
    lag_buckets: tuple[int, ...]
    lag_sum: float
    skipped_runs: int
    writer: WriterStats | None


@dataclass(slots=True)
class ReloadStats:
    """Config reloads of this process: owned by the service, read by the metrics collector."""

    success: int = 0
    failure: int = 0
    last_successful: bool = True  # False from a refused reload until one is applied
    last_at: float | None = None  # unix seconds of the last reload, applied or refused
    last_reason: str | None = None  # why the last reload was refused (None once one is applied)

    def outcomes(self) -> dict[str, int]:
        return {"success": self.success, "failure": self.failure}
