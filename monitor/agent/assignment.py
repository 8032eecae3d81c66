"""What the centre assigns an agent (the answer of `GET /api/v1/agent/checks`): its settings and
its checks as a Config for the engine. Pure: a payload in, typed values or a ValueError out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pydantic import ValidationError

from monitor.config import Config

PUSH_INTERVAL = 1.0  # seconds between pushes while results wait (the protocol's defaults, until told)
HEARTBEAT_INTERVAL = 5.0  # seconds: an empty batch at least this often, so the centre sees the agent
BATCH_MAX = 1000  # results per push
BUFFER = 100_000  # results kept on disk while the centre is away
MAX_CLOCK_SKEW = 5.0  # seconds of clock offset beyond which the agent is not ready


@dataclass(frozen=True, slots=True)
class Settings:
    push_interval: float = PUSH_INTERVAL
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    batch_max: int = BATCH_MAX
    buffer: int = BUFFER
    max_clock_skew: float = MAX_CLOCK_SKEW

    @classmethod
    def from_payload(cls, raw: Any) -> Settings:
        """The known settings of the payload (defaults for the missing, unknown ones ignored: a
        newer centre may send more). A value of the wrong type is a ValueError."""
        raw = raw if isinstance(raw, dict) else {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in raw:
                value = raw[f.name]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ValueError(f"settings.{f.name}: {value!r} is not a positive number")
                values[f.name] = int(value) if f.type == "int" else float(value)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Assignment:
    version: str
    server_time: float | None
    settings: Settings
    config: Config


def parse_assignment(payload: Any, etag: str | None = None) -> Assignment:
    """The payload as an Assignment. ValueError with a one-line reason when it is not one (the
    checks are validated like a config file's, durations as text)."""
    if not isinstance(payload, dict):
        raise ValueError("the assignment is not a JSON object")
    version = payload.get("version") or etag
    if not isinstance(version, str) or not version:
        raise ValueError("the assignment has no version")
    server_time = payload.get("server_time")
    if not isinstance(server_time, int | float) or isinstance(server_time, bool):
        server_time = None
    try:
        config = Config.model_validate({"checks": payload.get("checks") or [],
                                        "clusters": payload.get("clusters") or []})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{exc.error_count()} invalid check setting(s), first: {where}: {first['msg']}") from None
    return Assignment(version, float(server_time) if server_time is not None else None,
                      Settings.from_payload(payload.get("settings")), config)
