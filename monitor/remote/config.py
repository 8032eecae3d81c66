"""`agents:` in the config: the agents that may report, each a location name with its token (or
the token's SHA-256), and the check that watches each agent. Pure models; no I/O."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from probes.base import CENTRAL, LOCATION_PATTERN, Duration

__all__ = ["AGENTS_COMPONENT", "AgentConfig", "agent_check_id", "token_digest"]

AGENTS_COMPONENT = "agents"
"""The component of the checks that watch the agents themselves (`agents/<name>`)."""
DEFAULT_BUFFER = 100_000  # results an agent keeps on disk while the centre is away (~30 MB of SQLite)
SILENT_AFTER_MIN = 15.0
"""Seconds of silence before an agent counts as not reporting, at least: it pushes at least every
5 s (docs/agents.md, heartbeat_interval), so three missed beats, not one slow request."""


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a token, as `token_sha256` holds it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AgentConfig(BaseModel):
    """One agent: a location name and how it proves it is that agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63, pattern=LOCATION_PATTERN)
    token: str | None = Field(default=None, min_length=16, max_length=400)
    """The agent's secret (16 characters or more); or `token_sha256`, so that it is not in the file."""
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    buffer: int = Field(default=DEFAULT_BUFFER, ge=100, le=100_000_000)
    """Results the agent keeps on disk while the centre is away; beyond it the oldest are dropped and counted."""
    max_clock_skew: Annotated[Duration, Field(gt=0)] = 5.0
    """Beyond this clock offset the agent says it is not ready and its check is degraded."""

    @model_validator(mode="after")
    def _one_secret(self) -> AgentConfig:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token (the secret) or token_sha256 (its SHA-256 in hex)")
        if self.name == CENTRAL:
            raise ValueError(f"{CENTRAL!r} is the service's own location, not an agent's name")
        return self

    @property
    def digest(self) -> bytes:
        """The SHA-256 of the token, as bytes (what a presented token's digest is compared with)."""
        return bytes.fromhex(self.token_sha256) if self.token_sha256 else hashlib.sha256(
            self.token.encode("utf-8")).digest()

    def accepts(self, presented_digest: bytes) -> bool:
        """Constant-time comparison of a presented token's SHA-256 with this agent's."""
        return hmac.compare_digest(self.digest, presented_digest)


def agent_check_id(name: str) -> str:
    return f"{AGENTS_COMPONENT}/{name}"

