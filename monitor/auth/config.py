"""The `auth:` block and `server.tls`: who may sign in, with which role, and how the service is
served. Models only (validated when the config is loaded); nothing here checks a credential."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes.tls_client import TlsSettings

Role = Literal["viewer", "operator", "admin"]
Anonymous = Literal["none", "status", "viewer"]
NAME_PATTERN = r"^[^\s/:]{1,200}$"  # shown as `by` on alert pages and in the audit log
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MIN_TOKEN_CHARS = 16  # a shorter token is guessable by brute force through the rate limit


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserConfig(_Model):
    """A local account: its name, its argon2id hash (`platform-monitor hash-password`), its role."""

    name: str = Field(pattern=NAME_PATTERN)
    password_hash: str = Field(repr=False)
    role: Role

    @field_validator("password_hash")
    @classmethod
    def _argon2id(cls, value: str) -> str:
        if not value.startswith("$argon2id$"):
            raise ValueError("not an argon2id hash (it starts with $argon2id$): make one with "
                             "`platform-monitor hash-password`")
        return value


class TokenConfig(_Model):
    """An API token (a bearer token for scrapers, scripts, CI): given as is (`token`, from the
    environment) or as the hex SHA-256 of it (`token_sha256`), never both."""

    name: str = Field(pattern=NAME_PATTERN)
    token: str | None = Field(default=None, min_length=MIN_TOKEN_CHARS, repr=False)
    token_sha256: str | None = Field(default=None, repr=False)
    role: Role

    @field_validator("token_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _HEX64.match(value.lower()):
            raise ValueError("token_sha256 is the SHA-256 of the token in 64 hex digits "
                             "(`printf %s \"$TOKEN\" | sha256sum`)")
        return None if value is None else value.lower()

    @model_validator(mode="after")
    def _one_form(self) -> TokenConfig:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give either token or token_sha256")
        return self


class OidcConfig(_Model):
    """Single sign-on with an OpenID Connect provider (authorization code + PKCE)."""

    issuer: str = Field(pattern=r"^https?://[^\s]+$")
    """The provider's issuer URL: its discovery document is `<issuer>/.well-known/openid-configuration`.
    https, except on this machine's loopback (a provider beside the service, a test double)."""
    client_id: str = Field(min_length=1)
    client_secret: str = Field(default="", repr=False)
    roles_claim: str = Field(default="groups", min_length=1)
    """The ID token's claim listing the user's groups (a list, or one string)."""
    role_map: dict[str, Role] = Field(min_length=1)
    """Group → role; a user in several mapped groups gets the highest role, one in none is refused."""
    tls: TlsSettings = Field(default_factory=TlsSettings)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        host = urlsplit(value).hostname or ""
        if value.startswith("http://") and host not in LOOPBACK_HOSTS:
            raise ValueError("the issuer must be an https:// URL (plain http only on 127.0.0.1, ::1 or localhost): "
                             "the client secret and ID tokens travel to it")
        return value


class AuthConfig(_Model):
    """`auth:`: logins, tokens, single sign-on. Without this block everything is open to whoever
    reaches the port (writes need `server.api_token`)."""

    users: list[UserConfig] = Field(default_factory=list)
    tokens: list[TokenConfig] = Field(default_factory=list)
    oidc: OidcConfig | None = None
    anonymous: Anonymous = "status"
    """What people who have not signed in see: nothing (`none`), the public status page
    (`status`), or every page and GET API (`viewer`)."""
    metrics: Literal["public", "token"] = "public"
    """Who may scrape /metrics: anyone, or a bearer token (any role)."""
    session_secret: str | None = Field(default=None, min_length=32, repr=False)
    """The key that signs session cookies. Set it (from the environment) when several processes
    serve the UI, so a session signed by one is good at the others; without it each process makes
    its own at start (sessions then end when it restarts)."""

    @model_validator(mode="after")
    def _unique_names(self) -> AuthConfig:
        for kind, names in (("users", [u.name for u in self.users]), ("tokens", [t.name for t in self.tokens])):
            seen: set[str] = set()
            for i, name in enumerate(names):
                if name in seen:
                    raise ValueError(f"auth.{kind}[{i}]: name {name!r} is used twice")
                seen.add(name)
        return self


class ServerTlsConfig(_Model):
    """`server.tls`: serve HTTPS with this certificate (chain) and key, both PEM files."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)
