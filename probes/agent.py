"""The `agent` probe: judges a remote agent (docs/agents.md) from its last contact with the centre,
read through `ctx.contacts` (the engine wires it to storage): down when it has been silent too
long, degraded when its clock is off or its buffer is full. Knows nothing of HTTP or the database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from probes.base import CheckBase, Duration, ProbeContext, Result, Status, format_duration

__all__ = ["Check", "Contact", "ContactReader", "judge", "probe"]

BUFFER_FULL = 0.95  # share of its buffer an agent reports waiting, beyond which it is dropping results


@dataclass(frozen=True, slots=True)
class Contact:
    """What the centre last heard from an agent."""

    last_seen: float  # unix seconds, the centre's clock
    address: str = ""
    clock_offset: float | None = None  # seconds the agent's clock is behind (+) or ahead (-) of the centre's
    buffered: int = 0
    dropped: int = 0
    agent_version: str = ""
    config_version: str = ""


ContactReader = Callable[[str], Awaitable[Contact | None]]
"""`await reader(agent_name)`: the agent's last contact, or None if it never reported."""


class Check(CheckBase):
    """One agent, watched by the centre (config: one per `agents:` entry, id `agents/<name>`)."""

    kind: Literal["agent"] = "agent"
    timed: ClassVar[bool] = False

    agent: str = Field(min_length=1, max_length=63)
    silent_after: Annotated[Duration, Field(gt=0)] = 15.0
    """Silence (no push, no poll) beyond which the agent is down: two intervals of its checks, 15 s at least."""
    max_clock_skew: Annotated[Duration, Field(gt=0)] = 5.0
    buffer: int = Field(default=100_000, ge=1)


def _at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge(cfg: Check, contact: Contact | None, now: float) -> Result:
    """The agent's state from its last contact at `now`. Pure."""
    if contact is None:
        return Result.down(f"agent {cfg.agent} has never reported")
    details = {"last_seen": _at(contact.last_seen), "address": contact.address,
               "clock_offset": contact.clock_offset, "buffered": contact.buffered, "dropped": contact.dropped,
               "agent_version": contact.agent_version, "config_version": contact.config_version}
    silent = now - contact.last_seen
    if silent > cfg.silent_after:
        where = f" (last from {contact.address})" if contact.address else ""
        return Result(Status.DOWN, f"agent {cfg.agent} not reporting since {_at(contact.last_seen)}{where}", details)
    problems = []
    if contact.clock_offset is not None and abs(contact.clock_offset) > cfg.max_clock_skew:
        problems.append(f"its clock is off by {abs(contact.clock_offset):.1f}s "
                        f"(more than {format_duration(cfg.max_clock_skew)})")
    if contact.buffered >= BUFFER_FULL * cfg.buffer:
        problems.append(f"its buffer is full: {contact.buffered:,} results waiting, {contact.dropped:,} dropped")
    if problems:
        return Result(Status.DEGRADED, f"agent {cfg.agent}: " + "; ".join(problems), details)
    waiting = f"{contact.buffered:,} results waiting to be sent" if contact.buffered else ""
    dropped = f"{contact.dropped:,} dropped by its buffer so far" if contact.dropped else ""
    return Result(Status.UP, "; ".join(p for p in (waiting, dropped) if p), details)


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    if ctx.contacts is None:
        return Result(Status.UNKNOWN, "no storage to read the agent's contacts from")
    reader: ContactReader = ctx.contacts
    return judge(cfg, await reader(cfg.agent), time.time())
