"""The `redis` probe: connect (TLS optional), authenticate (AUTH with or without a username),
PING, and read `INFO replication` for the role and a replica's link to its primary. Uses the
redis package's asyncio client with one connection per run and no retries; never writes."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import certifi
import redis.asyncio
import redis.exceptions
from pydantic import Field, field_validator, model_validator
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from probes.base import CheckBase, ProbeContext, Result, Status, format_duration, os_error_reason
from probes.database import Phases, Role, connect_timeout, judge_replication
from probes.tls_client import TlsSettings, tls_error_reason

__all__ = ["Check", "probe"]

CLIENT_NAME = "platform-monitor"  # shown by CLIENT LIST
_ROLES: dict[str, Role] = {"master": "primary", "slave": "replica"}


class Check(CheckBase):
    """PING a Redis server and check its replication role."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    kind: Literal["redis"] = "redis"
    url: str | None = None
    """`redis://[user:password@]host:port/db`, or `rediss://` for TLS; the fields below override its parts."""
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    """An ACL user (Redis 6+); without it, AUTH uses the password alone."""
    password: str | None = None
    database: int | None = Field(default=None, ge=0)
    tls: TlsSettings | None = None
    """TLS with these settings (a `rediss://` URL turns TLS on with the defaults)."""
    expect_role: Role | None = None
    """`replica` also requires the link to the primary to be up."""

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"{value!r}: the URL must look like redis://host:port/db or rediss://host:port/db")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"{value!r}: the database in the URL must be a number")
        return value

    @model_validator(mode="after")
    def _target(self) -> Check:
        if self.url is None and self.host is None:
            raise ValueError("give url or host")
        return self


def _connection_settings(cfg: Check) -> dict[str, Any]:
    """host, port, username, password, db and TLS from the URL, overridden by the fields."""
    settings: dict[str, Any] = {"host": None, "port": 6379, "username": None, "password": None, "db": 0}
    use_tls = cfg.tls is not None
    if cfg.url is not None:
        parts = urlsplit(cfg.url)
        settings.update(host=parts.hostname, port=parts.port or 6379,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None,
                        db=int(parts.path.strip("/") or 0))
        use_tls = use_tls or parts.scheme == "rediss"
    overrides = {"host": cfg.host, "port": cfg.port, "username": cfg.username, "password": cfg.password,
                 "db": cfg.database}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if use_tls:
        tls = cfg.tls or TlsSettings()
        settings.update(ssl=True, ssl_ca_certs=tls.ca_file or certifi.where(), ssl_certfile=tls.cert_file,
                        ssl_keyfile=tls.key_file, ssl_cert_reqs="required" if tls.verify else "none",
                        ssl_check_hostname=tls.verify)
    return settings


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Connect and authenticate, PING, read the replication section of INFO; judge the role."""
    settings = _connection_settings(cfg)
    timeout = connect_timeout(cfg.timeout)
    client = redis.asyncio.Redis(
        **settings, socket_connect_timeout=timeout, socket_timeout=timeout, client_name=CLIENT_NAME,
        single_connection_client=True, retry=Retry(NoBackoff(), 0),  # a failure must show, not be retried
        protocol=2,  # RESP2: plain AUTH and PING, which every Redis understands (HELLO needs 6+)
    )
    phases = Phases()
    try:
        with phases.timed("connect"):
            await client.initialize()
            await client.connection.connect()  # TCP, TLS, AUTH, SELECT, CLIENT SETNAME
        with phases.timed("ping"):
            await client.ping()
        with phases.timed("role"):
            info = await client.info("replication")
    except redis.exceptions.RedisError as exc:
        return Result.down(_reason(exc, settings, timeout), phases=dict(phases))
    finally:
        await client.aclose()
    return _judge(cfg, info, phases)


def _judge(cfg: Check, info: dict[str, Any], phases: Phases) -> Result:
    role = _ROLES.get(str(info.get("role")))
    details: dict[str, Any] = {"role": role or info.get("role"), "phases": dict(phases)}
    if role is None:
        return Result.down(f"unknown role {info.get('role')!r} in INFO replication", **details)
    if role == "primary":
        details["connected_replicas"] = info.get("connected_slaves", 0)
    else:
        link = info.get("master_link_status")
        details.update(primary=f"{info.get('master_host')}:{info.get('master_port')}", link_status=link,
                       last_io_seconds_ago=info.get("master_last_io_seconds_ago"))
        if link != "up" and cfg.expect_role == "replica":
            down_for = info.get("master_link_down_since_seconds")
            since = f" for {format_duration(down_for)}" if isinstance(down_for, int) and down_for >= 0 else ""
            return Result.down(f"replication link to {details['primary']} is {link}{since}", **details)
    status, reason = judge_replication(role=role, expected=cfg.expect_role, lag=None, levels=None)
    return Result(status, reason if status is not Status.UP else f"PONG, {reason}", details)


def _reason(exc: redis.exceptions.RedisError, settings: dict[str, Any], timeout: float) -> str:
    message = str(exc).strip()
    if isinstance(exc, redis.exceptions.AuthenticationError) or message.startswith(("WRONGPASS", "NOAUTH")):
        if message.startswith("NOAUTH") or "Authentication required" in message:
            return "authentication required (no password configured)"
        return f"authentication failed ({message.removeprefix('WRONGPASS ').rstrip('.')})"
    if isinstance(exc, redis.exceptions.ResponseError) and "DB index is out of range" in message:
        return f"database {settings['db']} does not exist (DB index is out of range)"
    if isinstance(exc, redis.exceptions.TimeoutError):
        return f"timeout after {format_duration(round(timeout, 3))} ({message.rstrip('.')})"
    reason = tls_error_reason(exc) or os_error_reason(exc)
    if reason:
        return reason
    return message.rstrip(".") or type(exc).__name__
