"""Checking what a request presents: API tokens (constant-time, by SHA-256 digest), local
passwords (argon2id), built from the running config. Never logs, stores or returns a secret."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.auth.config import AuthConfig, Role
from monitor.auth.roles import API_TOKEN_NAME, Principal

HASHER = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = HASHER.hash("platform-monitor: no such user")
"""Verified against when the account does not exist, so a wrong name costs as long as a wrong
password (the time of an answer tells nothing about which accounts exist)."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (`platform-monitor hash-password`)."""
    return HASHER.hash(password)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class _Token:
    name: str
    digest: bytes
    role: Role
    legacy: bool = False


class Credentials:
    """The tokens and accounts of one config: `server.api_token` (an admin token) and `auth.tokens`,
    `auth.users`. Rebuilt when the config is reloaded."""

    def __init__(self, auth: AuthConfig | None, api_token: str | None) -> None:
        tokens: list[_Token] = []
        if api_token:
            tokens.append(_Token(API_TOKEN_NAME, digest(api_token), "admin", legacy=True))
        for t in (auth.tokens if auth else []):
            value = digest(t.token) if t.token is not None else bytes.fromhex(t.token_sha256 or "")
            tokens.append(_Token(t.name, value, t.role))
        self._tokens = tuple(tokens)
        self._users = {u.name: u for u in (auth.users if auth else [])}

    @property
    def has_tokens(self) -> bool:
        return bool(self._tokens)

    def token(self, presented: str) -> Principal | None:
        """The principal of a bearer token, or None. Every configured digest is compared (in
        constant time), whichever matches: the time taken tells nothing about the tokens."""
        wanted = digest(presented)
        found: _Token | None = None
        for t in self._tokens:
            if hmac.compare_digest(wanted, t.digest) and found is None:
                found = t
        if found is None:
            return None
        return Principal(name=found.name, role=found.role, credential="api_token" if found.legacy else "token")

    def user_role(self, name: str) -> Role | None:
        """The current role of a local account (None: no such account any more)."""
        user = self._users.get(name)
        return user.role if user is not None else None

    def check_password(self, name: str, password: str) -> Role | None:
        """The account's role when `password` is right, else None. Blocking and slow on purpose
        (argon2id): call it in a worker thread."""
        user = self._users.get(name)
        try:
            HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return user.role if user is not None else None
