"""The `alerts:` section of the config: receivers (a union on `kind` built from the receiver
registry), routes, silences, timing and delivery settings, each validated when loaded."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.alerts.receivers import RECEIVERS
from monitor.alerts.silences import matches
from monitor.instants import UtcDatetime
from probes.base import Duration, format_duration

__all__ = ["AlertsConfig", "AnyReceiver", "ConfigSilence", "DeliveryConfig", "Route", "WatchdogConfig"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _receiver_union() -> Any:
    models = tuple(kind.model for kind in RECEIVERS.values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


AnyReceiver = _receiver_union()

MatchValue = str | list[str]


AwareDatetime = UtcDatetime  # no offset: UTC (monitor.instants, the one time-zone rule)


class Route(_Model):
    """Alerts whose labels match every `match` entry (a value or a list of accepted values) go
    to `receivers`. Routes are tried in order; the first match wins unless it says
    `continue: true`. A route without `match` matches everything (the default route)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match: dict[str, MatchValue] = Field(default_factory=dict)
    receivers: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")

    def matches(self, labels: dict[str, str]) -> bool:
        return matches(self.match, labels)


class ConfigSilence(_Model):
    """A maintenance window written in the config: alerts matching `matchers` between
    `starts_at` and `ends_at` are recorded but not notified."""

    matchers: dict[str, MatchValue] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> ConfigSilence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class DeliveryConfig(_Model):
    initial_backoff: Annotated[Duration, Field(gt=0)] = 2.0
    max_backoff: Annotated[Duration, Field(gt=0)] = 300.0
    max_age: Annotated[Duration, Field(gt=0)] = 86400.0
    """A notification not delivered within this time after it was queued is given up (expired)."""


WATCHDOG_INTERVAL_MIN = 10.0  # seconds: a heartbeat more often than this only costs the receiver
WATCHDOG_INTERVAL_MAX = 3600.0  # seconds: a longer silence would hide an outage of the monitor too long


class WatchdogConfig(_Model):
    """The dead man's switch: an always-firing `Watchdog` alert sent to `receiver` every
    `interval` while the monitor runs, so that a system outside notices when it stops."""

    receiver: str = Field(min_length=1)
    interval: Duration = 60.0

    @field_validator("interval")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if not WATCHDOG_INTERVAL_MIN <= value <= WATCHDOG_INTERVAL_MAX:
            raise ValueError(f"must be from {format_duration(WATCHDOG_INTERVAL_MIN)} to "
                             f"{format_duration(WATCHDOG_INTERVAL_MAX)} (got {format_duration(value)})")
        return value


class AlertsConfig(_Model):
    subjects: list[Literal["check", "component"]] = Field(default_factory=lambda: ["check"])
    """What alerts are about: each check, each component, or both."""
    on_degraded: bool = False
    """Fire on `degraded` too (always on `down`)."""
    repeat_interval: Duration = 4 * 3600.0
    """Remind of a still-firing alert this often; 0 = never."""
    group_wait: Duration = 30.0
    """A check with `depends_on` waits this long after going down for a parent to go down too
    (then it is covered by the parent's alert instead of firing on its own)."""
    default_severity: str = "critical"
    severity: dict[str, str] = Field(default_factory=dict)
    """Component name → severity of its checks and of its own alert (a check's `severity` wins)."""
    receivers: list[AnyReceiver] = Field(default_factory=list)  # type: ignore[valid-type]
    routes: list[Route] = Field(default_factory=list)
    silences: list[ConfigSilence] = Field(default_factory=list)
    delivery: DeliveryConfig = DeliveryConfig()
    watchdog: WatchdogConfig | None = None
    """The dead man's switch (None: off)."""

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        seen: set[str] = set()
        for i, receiver in enumerate(self.receivers):
            if receiver.name in seen:
                raise ValueError(f"receivers[{i}]: name {receiver.name!r} is already used")
            seen.add(receiver.name)
        for i, route in enumerate(self.routes):
            for j, name in enumerate(route.receivers):
                if name not in seen:
                    raise ValueError(f"routes[{i}].receivers[{j}]: no receiver named {name!r}")
        if self.watchdog is not None and self.watchdog.receiver not in seen:
            known = ", ".join(repr(r.name) for r in self.receivers)
            have = f"receivers: {known}" if known else "no receivers are configured"
            raise ValueError(f"watchdog.receiver: no receiver named {self.watchdog.receiver!r} ({have})")
        return self

    def receiver_by_name(self) -> dict[str, Any]:
        return {r.name: r for r in self.receivers}
