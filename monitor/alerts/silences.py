"""Silences: label matchers over a time window. `Silences` is a silencer `(labels, at) -> reason`
over the config's windows and the API's silences; it holds them in memory and does no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Silence", "Silences", "matches"]


def matches(matchers: Mapping[str, str | list[str]], labels: Mapping[str, str]) -> bool:
    """Every matcher names a label whose value equals it (or is one of a list)."""
    for name, wanted in matchers.items():
        value = labels.get(name)
        if value is None or (value not in wanted if isinstance(wanted, list) else value != wanted):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: Mapping[str, str | list[str]]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""
    source: str = "api"  # api | config

    def active(self, at: float) -> bool:
        return self.starts_at <= at < self.ends_at

    def describe(self) -> str:
        who = f" by {self.created_by}" if self.created_by else ""
        what = f": {self.comment}" if self.comment else ""
        return f"silence {self.id}{who}{what}"


@dataclass
class Silences:
    """The silences in force or to come. Replaced wholesale (`set_api`, `set_config`), never
    mutated in place, so the alert loop always sees a consistent list."""

    config: tuple[Silence, ...] = ()
    api: tuple[Silence, ...] = field(default_factory=tuple)

    def set_config(self, silences: Iterable[Silence]) -> None:
        self.config = tuple(silences)

    def set_api(self, silences: Iterable[Silence]) -> None:
        self.api = tuple(silences)

    def all(self) -> list[Silence]:
        return [*self.config, *self.api]

    def __call__(self, labels: Mapping[str, str], at: float) -> str | None:
        for silence in (*self.config, *self.api):
            if silence.active(at) and matches(silence.matchers, labels):
                return silence.describe()
        return None
