"""What every probe shares: the check settings they all take, the result they return, the context
the runner hands them. Probes return results; they never raise for a failing target, never time
themselves out (the runner does) and never touch storage, alerting or the web layer."""

from __future__ import annotations

import enum
import errno
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "CENTRAL",
    "CheckBase",
    "Duration",
    "ProbeContext",
    "ProbeFn",
    "Regex",
    "Result",
    "Status",
    "exception_chain",
    "os_error_reason",
    "parse_duration",
]

_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_FORMS = "500ms, 30s, 5m, 1m30s, 1h or 1d"


def parse_duration(value: Any) -> float:
    """`500ms`, `30s`, `5m`, `1h`, `2d`, a sum of them (`1m30s`, `2d12h`) or a bare number of
    seconds → seconds (float). A config file may not give a bare number (`Duration` refuses it
    there); Python callers and the API's JSON may."""
    if isinstance(value, bool):
        raise ValueError(f"a duration like {_DURATION_FORMS} is expected")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"a duration like {_DURATION_FORMS} is expected")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def _parse_text(value: str) -> float:
    if _is_number(value):
        return float(value)
    seconds, end = 0.0, 0
    while end < len(value) and (part := _DURATION_PART.match(value, end)):
        seconds += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        end = part.end()
    if end == 0 or end < len(value):
        raise ValueError(f"{value!r} is not a duration (use e.g. {_DURATION_FORMS})")
    return seconds


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", value) is not None


def _config_duration(value: Any, info: ValidationInfo) -> float:
    """A Duration's value. Read from a config file (the loader validates with `{"config_file":
    True}` as context), a bare number other than 0 is refused: `max_latency: 800` meant as
    milliseconds would silently be 800 seconds."""
    if info.context and info.context.get("config_file") and _is_number(value) and float(value) != 0:
        raise ValueError(unitless_duration(float(value)))
    return parse_duration(value)


def unitless_duration(number: float) -> str:
    """What is wrong with a bare number where a duration is expected, with the spellings it may mean."""
    shown = f"{number:g}"
    spellings = [f"{shown}ms", f"{shown}s"]
    if number >= 60 and number == int(number):
        spellings.append(compound_duration(number))
    return f"{shown}: a duration needs a unit: " + ", ".join(spellings)


def compound_duration(seconds: float) -> str:
    """Whole seconds as the sum of days, hours, minutes and seconds (`13m20s`, `1d2h`)."""
    rest, parts = int(seconds), []
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, int(_UNIT_SECONDS[unit]))
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def format_rate(bytes_per_second: float) -> str:
    """A transfer rate for people: the largest unit that keeps the number at 1 or more, three
    significant digits (`512 B/s`, `40.5 kB/s`, `2.31 MB/s`), never `0.0 MB/s` for a small blob."""
    value, unit = float(bytes_per_second), "B/s"
    for bigger in ("kB/s", "MB/s", "GB/s"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.3g} {unit}"


def format_duration(seconds: float) -> str:
    """Seconds → the shortest exact spelling (`1.5s`, `30s`, `5m`, `250ms`)."""
    for unit in ("d", "h", "m", "s"):
        n = seconds / _UNIT_SECONDS[unit]
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(_config_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""Seconds, written with a unit (`format_duration`'s forms and sums of them: `1m30s`)."""


def _compile_regex(value: Any) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError("a regular expression (string) is expected")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None


Regex = Annotated[
    re.Pattern[str],
    BeforeValidator(_compile_regex),
    PlainSerializer(lambda pattern: pattern.pattern, return_type=str),
]
"""A regular expression in a check's config, compiled (and rejected if invalid) when loaded."""


def http_url(value: str) -> str:
    """Validate an absolute http(s) URL with a host (config models' url fields)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r}: the URL must be http(s)://host[:port][/path]")
    return value


HttpUrl = Annotated[str, AfterValidator(http_url)]
"""An absolute http(s) URL with a host, kept as written."""


class Status(enum.StrEnum):
    """A result's or a state's status. A probe says `unknown` only when it cannot judge its
    target because something it depends on is unreachable (a node check while its cluster's
    apiserver is down): that is not the target's failure, and alerting does not page on it."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Ordering for 'worst of': down > degraded > unknown > up."""
        return _SEVERITY[self]


_SEVERITY = {Status.UP: 0, Status.UNKNOWN: 1, Status.DEGRADED: 2, Status.DOWN: 3}


CENTRAL = "central"
"""The location name of the service itself (every other location is an agent's name)."""
LOCATION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_LOCATIONS = 20  # places one check runs in at once: far more than quorum needs


class RunSettings(BaseModel):
    """How a check runs and when its state changes: the one place these defaults are declared.
    Every check has them (CheckBase), and so do the config's `defaults:` and each cluster (whose
    settings its checks take); the config loader fills a check's or a cluster's unset ones from
    `defaults:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Annotated[Duration, Field(gt=0)] = 30.0
    timeout: Annotated[Duration, Field(gt=0)] = 10.0
    failure_threshold: int = Field(default=2, ge=1, le=100)
    success_threshold: int = Field(default=1, ge=1, le=100)


class CheckBase(RunSettings):
    """Settings every check has. Each probe module subclasses this with its own `kind` literal
    and fields; the config loader fills unset run settings from `defaults`."""

    secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Field names whose values are never shown back (passwords, tokens, client keys); a dotted
    path reaches into nested settings (`auth.token`), `*` into every list item (`steps.*.body`)."""
    timed: ClassVar[bool] = True
    """Whether the runner times each run as its latency. False for a kind whose run measures
    nothing of its target (a heartbeat judges stored pings): its latency is what the probe sets,
    or none."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$")
    component: str = Field(min_length=1, max_length=200)
    kind: str
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    """Ids of checks this one depends on: while one of them is down, this check's alerts are
    covered by that parent's alert."""
    severity: str | None = Field(default=None, max_length=40)
    """The severity of this check's alerts (default: alerts.severity of its component, else
    alerts.default_severity)."""
    location: str | None = Field(default=None, max_length=63, pattern=LOCATION_PATTERN)
    """Where the check runs: `central` (the service itself, the default) or an agent's name."""
    locations: list[Annotated[str, Field(max_length=63, pattern=LOCATION_PATTERN)]] | None = Field(
        default=None, min_length=1, max_length=MAX_LOCATIONS)
    """Several places that run the check at once; its state follows `quorum` (docs/agents.md)."""
    quorum: int | None = Field(default=None, ge=1, le=MAX_LOCATIONS)
    """Down when at least this many of `locations` see it down (default: a majority)."""

    @model_validator(mode="after")
    def _one_way_to_place(self) -> CheckBase:
        if self.location is not None and self.locations is not None:
            raise ValueError("give either location (one place) or locations (several), not both")
        if self.locations is not None and len(set(self.locations)) != len(self.locations):
            raise ValueError("locations: a location is named twice")
        if self.quorum is not None and self.quorum > len(self.sites):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.sites)} location(s) that run the check")
        return self

    @property
    def id(self) -> str:
        """Stable id: `<component>/<name>`, the key in storage, metrics and the API."""
        return f"{self.component}/{self.name}"

    @property
    def sites(self) -> tuple[str, ...]:
        """The locations that run the check (CENTRAL alone unless the config says otherwise)."""
        if self.locations is not None:
            return tuple(self.locations)
        return (self.location or CENTRAL,)

    @property
    def needed(self) -> int:
        """How many locations must see it down for the check to be down (`quorum`, else a majority)."""
        return self.quorum if self.quorum is not None else len(self.sites) // 2 + 1

    @property
    def remote(self) -> bool:
        """Whether some location other than the service itself runs it."""
        return self.sites != (CENTRAL,)


@dataclass(slots=True)
class Result:
    """One run's outcome. `latency` and `time` are set by the runner, which owns timing; a probe
    may set `latency` itself when it measures something narrower than the whole run, and `time`
    when its result describes an earlier instant (a heartbeat's finish ping): the runner then
    keeps them."""

    status: Status
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    latency: float | None = None
    time: float = 0.0  # unix seconds at the start of the run
    stored: bool = False
    """Already in storage (an agent pushed it, the centre stored it on arrival): sinks that store
    results leave it alone."""

    @classmethod
    def up(cls, reason: str = "", **details: Any) -> Result:
        return cls(Status.UP, reason, details)

    @classmethod
    def degraded(cls, reason: str, **details: Any) -> Result:
        return cls(Status.DEGRADED, reason, details)

    @classmethod
    def down(cls, reason: str, **details: Any) -> Result:
        return cls(Status.DOWN, reason, details)


@dataclass(slots=True)
class ProbeContext:
    """What the runner lends a probe for one run: a logger and the shared client pool
    (`probes.clients.ClientPool`: httpx clients and SSL contexts keyed by their TLS settings)."""

    logger: logging.Logger
    clients: Any  # probes.clients.ClientPool; Any keeps this module free of transport imports
    cache: dict[str, Any] = field(default_factory=dict)
    """What a probe keeps from one run to the next (e.g. the registry probe's bearer tokens),
    under a key naming the probe; it lives as long as the engine's context. Never results."""
    pings: Any = None
    """`probes.heartbeat.PingReader`: a heartbeat check's newest stored pings, wired by the engine
    to storage; None when the process has no database."""
    contacts: Any = None
    """`probes.agent.ContactReader`: an agent's last contact with the centre, wired by the engine to
    storage; None when the process has no database."""

    async def aclose(self) -> None:
        """Close the client pool and whatever the probes keep in the cache that holds connections
        (anything with an `aclose`, such as probes.kube.KubeClients): the owner of the context need
        not know what each probe keeps, nor under which key."""
        await self.clients.aclose()
        for value in list(self.cache.values()):
            close = getattr(value, "aclose", None)
            if close is not None:
                await close()


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection closed by peer (broken pipe)",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "no route to host",
    errno.EHOSTDOWN: "host is down",
    errno.ENETUNREACH: "network unreachable",
    errno.ENETDOWN: "network is down",
    errno.EADDRNOTAVAIL: "cannot assign requested address",
}
_UNRESOLVED = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` then what it was raised from (`__cause__`, else `__context__`), outermost first:
    client libraries wrap the OS error that says what actually happened."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def os_error_reason(exc: BaseException) -> str | None:
    """A short reason ("connection refused", "DNS: name does not resolve" ...) for a failed
    network operation, from the OS error anywhere in `exc`'s chain; None if there is none."""
    chain = exception_chain(exc)
    for error in chain:
        if isinstance(error, socket.gaierror):
            if error.errno in _UNRESOLVED:
                return "DNS: name does not resolve"
            return f"DNS: {error.strerror or error}"
    for error in chain:
        # ssl.SSLError numbers are SSL_ERROR_* codes, not errno values.
        is_os_error = isinstance(error, OSError) and not isinstance(error, ssl.SSLError)
        if is_os_error and error.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[error.errno]
    return None


ProbeFn = Callable[[Any, ProbeContext], Awaitable[Result]]
