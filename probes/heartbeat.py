"""The `heartbeat` probe: a job pings us (`/ping/<token>`, `/start`, `/fail`, `/<exit status>`);
this judges the pings stored so far against the job's schedule. It reads pings only through
`ctx.pings` (the engine wires it to storage) and knows nothing of HTTP or the database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import Field, field_validator, model_validator

from probes.base import CheckBase, Duration, ProbeContext, Result, Status, format_duration

__all__ = ["Check", "Judgement", "Ping", "PingKind", "PingReader", "judge", "next_expected", "probe"]

PING_HISTORY = 20
"""Newest pings a judgement reads: the last finish, the start before it and the start after it
are among them unless a job sent 20 starts in a row (then it is judged as started, not finished)."""
FIRST_LINE_CHARS = 120  # of a failed run's body, quoted in the reason
CACHE_KEY = "heartbeat"  # ctx.cache[CACHE_KEY]: check id → id of the last finish reported

PingKind = Literal["success", "start", "fail"]


@dataclass(frozen=True, slots=True)
class Ping:
    """One stored ping. `exit_status` is set for `/ping/<token>/<0-255>` (0 is a success)."""

    id: int
    time: float  # unix seconds
    kind: PingKind
    exit_status: int | None = None
    body: str = ""


PingReader = Callable[[str, int], Awaitable[Sequence[Ping]]]
"""`await reader(check_id, limit)`: the check's newest pings, newest first."""


class Check(CheckBase):
    """A job that reports in: down when its ping is late past `grace`, when it reports a failure,
    or when a run started and did not finish within `max_runtime`."""

    kind: Literal["heartbeat"] = "heartbeat"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"token"})
    timed: ClassVar[bool] = False

    token: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9._~-]+$")
    """The secret part of the ping URL (letters, digits, `.`, `_`, `~`, `-`; 16 characters or more)."""
    schedule: str | None = None
    """A cron expression (5 fields) for when the job runs, in `timezone`; or `period`."""
    period: Annotated[Duration, Field(gt=0)] | None = None
    """How often the job runs (`1h`); or `schedule`."""
    timezone: str = "UTC"
    """The IANA time zone `schedule` is read in and times in reasons are shown in."""
    grace: Annotated[Duration, Field(ge=0)] = 300.0
    """How late a ping may be (default 5m: cron starts jobs to the minute, a few seconds late)."""
    max_runtime: Annotated[Duration, Field(gt=0)] | None = None
    """How long a run may take from `/start` to its finish (default: `grace`)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> Check:
        if (self.schedule is None) == (self.period is None):
            raise ValueError("set exactly one of schedule (a cron expression) and period (a duration)")
        if self.schedule is not None:
            try:
                CronSim(self.schedule, datetime.now(self.zone))
            except CronSimError as exc:
                raise ValueError(f"schedule {self.schedule!r}: {exc}") from None
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances


@dataclass(frozen=True, slots=True)
class Judgement:
    """The state the pings show at `now`. `finish`: the finished run whose outcome this is (None
    when the state says something else: no run yet, late, over its run time); `duration`: that
    run's start → finish in seconds (None without a start)."""

    status: Status
    reason: str
    finish: Ping | None = None
    duration: float | None = None


def next_expected(cfg: Check, after: float) -> float:
    """When the ping after one at `after` is due (unix seconds): `after + period`, or the next
    cron time after `after` in the check's time zone (right across DST changes)."""
    if cfg.period is not None:
        return after + cfg.period
    return next(CronSim(cfg.schedule, datetime.fromtimestamp(after, cfg.zone))).timestamp()


def judge(cfg: Check, pings: Sequence[Ping], now: float) -> Judgement:
    """The check's state from its newest pings (newest first) at `now`. Pure."""
    if not pings:
        return Judgement(Status.UNKNOWN, "waiting for the first ping")
    finish = next((p for p in pings if p.kind != "start"), None)
    start = next((p for p in pings if p.kind == "start"), None)
    clock = _Clock(cfg.zone, now)
    if start is not None and (finish is None or start.time > finish.time):
        limit = cfg.max_runtime if cfg.max_runtime is not None else cfg.grace
        if now > start.time + limit:
            return Judgement(Status.DOWN, f"started {clock.show(start.time)}, "
                                          f"not finished after {format_duration(limit)}")
        if finish is None:
            return Judgement(Status.UNKNOWN, f"first run started {clock.show(start.time)}, not finished yet")
        outcome = _outcome(cfg, pings, finish, clock)
        return Judgement(outcome.status, f"{outcome.reason}; running since {clock.show(start.time)}",
                         outcome.finish, outcome.duration)
    assert finish is not None  # there are pings and the newest is not a start
    deadline = next_expected(cfg, finish.time) + cfg.grace
    if now > deadline:
        since = clock.show(finish.time)
        return Judgement(Status.DOWN, f"no ping since {since}; expected by {clock.show(deadline, after=since)}")
    return _outcome(cfg, pings, finish, clock)


def _outcome(cfg: Check, pings: Sequence[Ping], finish: Ping, clock: _Clock) -> Judgement:
    duration = _duration(pings, finish)
    at = clock.show(finish.time)
    if finish.kind == "fail":
        what = f"exit status {finish.exit_status}" if finish.exit_status is not None else "failed"
        line = _first_line(finish.body)
        return Judgement(Status.DOWN, f"{what} at {at}" + (f": {line}" if line else ""), finish, duration)
    ran = f", ran {span(duration)}" if duration is not None else ""
    return Judgement(Status.UP, f"last ping {at}{ran}", finish, duration)


def _duration(pings: Sequence[Ping], finish: Ping) -> float | None:
    """Start → finish of the run `finish` ended: the newest start before it with no other finish
    between them."""
    older = pings[pings.index(finish) + 1 :]
    for ping in older:
        if ping.kind != "start":
            return None
        return max(0.0, finish.time - ping.time)
    return None


def _first_line(body: str) -> str:
    line = next((s.strip() for s in body.splitlines() if s.strip()), "")
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 1] + "…"


def span(seconds: float) -> str:
    """A run's length for people: `45s`, `3m12s`, `2h5m`, `1d3h` (two units at most)."""
    rest = round(seconds)
    if rest < 60:
        return f"{rest}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


class _Clock:
    """Times in reasons, in the check's zone: `02:04 CST` today, `2026-12-01 02:03 CST` other days."""

    def __init__(self, zone: ZoneInfo, now: float) -> None:
        self.zone = zone
        self.today = datetime.fromtimestamp(now, zone).date()

    def show(self, t: float, *, after: str = "") -> str:
        local = datetime.fromtimestamp(t, self.zone)
        text = local.strftime("%H:%M" if local.date() == self.today else "%Y-%m-%d %H:%M")
        zone = local.tzname() or ""
        # a second time in one reason names its zone only when it differs (a DST change between)
        return text if after.endswith(" " + zone) else f"{text} {zone}"


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Judge the stored pings now. The result that first reports a finished run is dated at its
    finish ping and carries the run's duration as latency and its body: whichever process reports
    it, and however often, storage keeps one row for it (results are keyed by check and time).
    Later judgements of the same run carry neither, so the latency history has one point per run."""
    if ctx.pings is None:
        return Result(Status.UNKNOWN, "heartbeats need storage: this process has no database")
    pings = await ctx.pings(cfg.id, PING_HISTORY)
    verdict = judge(cfg, pings, time.time())
    result = Result(verdict.status, verdict.reason)
    finish = verdict.finish
    if finish is None:
        return result
    reported: dict[str, int] = ctx.cache.setdefault(CACHE_KEY, {})
    # no await between this test and the update: two runs of one check report a finish once
    if reported.get(cfg.id) != finish.id:
        reported[cfg.id] = finish.id
        result.time = finish.time
        result.latency = verdict.duration
        result.details["ping"] = finish.kind if finish.exit_status is None else f"exit {finish.exit_status}"
        if finish.body:
            result.details["body"] = finish.body
    return result
