"""Roles and who a request is: the ordering viewer < operator < admin, and the Principal the
gate attaches to every request. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.auth.config import Role

RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}
Credential = Literal["anonymous", "session", "token", "api_token"]
API_TOKEN_NAME = "api_token"
"""The name `server.api_token` goes by (an admin token) in the audit log."""


def at_least(role: str | None, needed: str) -> bool:
    """True when `role` is `needed` or above it."""
    return role is not None and RANK[role] >= RANK[needed]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: a signed-in user (`session`, from a login form or OIDC), a named API
    token, the old `server.api_token`, or nobody (`anonymous`, role None)."""

    name: str
    role: Role | None
    credential: Credential
    csrf: str = ""
    """The session's CSRF token (sessions only): cookie-authenticated writes must echo it."""
    source: str = ""
    """`local` or `oidc` for sessions; empty otherwise."""

    @property
    def signed_in(self) -> bool:
        return self.role is not None

    @property
    def via(self) -> str:
        """The credential as the audit log names it: `session`, `session:oidc`, `token:<name>`,
        `api_token`, `anonymous`."""
        if self.credential == "token":
            return f"token:{self.name}"
        if self.credential == "session" and self.source == "oidc":
            return "session:oidc"
        return self.credential


ANONYMOUS = Principal(name="anonymous", role=None, credential="anonymous")
