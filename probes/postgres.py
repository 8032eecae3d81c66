"""The `postgres` probe: connect and authenticate (psycopg 3, async), run a trivial query, read the
server's role and, on a replica, its replication lag. The driver is an optional extra, imported
when a run needs it; never raises for a failing server and never writes to it."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from probes.base import CheckBase, ProbeContext, Result, Status, format_duration, os_error_reason
from probes.database import LagLevels, Phases, Role, connect_timeout, driver_missing, judge_replication

__all__ = ["Check", "probe"]

APPLICATION_NAME = "platform-monitor"  # shown in pg_stat_activity, so DBAs know who connects
# The server cancels a query still running this long before the runner's timeout would cut it.
STATEMENT_TIMEOUT_SHARE = 0.9

# One round trip after the user's query. Replay lag is "now minus the last replayed commit", which
# grows on an idle primary's replica: while a WAL receiver runs (its pid is visible to every user)
# and everything received is replayed, the lag is zero. Without a receiver it is the age of the
# last replayed commit, so a replica cut off from its primary shows a lag that keeps growing.
_ROLE_QUERY = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN (SELECT pid FROM pg_stat_wal_receiver) IS NOT NULL
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END,
       (SELECT pid FROM pg_stat_wal_receiver) IS NOT NULL,
       current_setting('server_version')
"""


class Check(CheckBase):
    """Connect to a PostgreSQL server, run `query`, check its role and replication lag."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    kind: Literal["postgres"] = "postgres"
    dsn: str | None = None
    """A `postgresql://user@host:port/database?sslmode=...` URL; the fields below override its parts."""
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    password: str | None = None
    database: str | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    """libpq's: disable, allow, prefer (libpq's default), require, verify-ca, verify-full."""
    sslrootcert: str | None = None
    """CA bundle (PEM) for verify-ca/verify-full; `system` trusts the operating system's CAs."""
    sslcert: str | None = None
    sslkey: str | None = None
    query: str = Field(default="SELECT 1", min_length=1)
    expect_role: Role | None = None
    replication_lag: LagLevels | None = None
    """On a replica: lag above `warn` → degraded, above `critical` → down."""

    @field_validator("dsn")
    @classmethod
    def _url_dsn(cls, value: str | None) -> str | None:
        # Only the URL form: key=value strings would carry a password that redaction cannot see.
        if value is not None and not re.match(r"^postgres(ql)?://", value):
            raise ValueError("dsn must be a postgresql:// URL (or use host, port, user, password, database)")
        return value

    @model_validator(mode="after")
    def _target(self) -> Check:
        if self.dsn is None and self.host is None:
            raise ValueError("give dsn or host")
        return self


def _connect_params(cfg: Check) -> dict[str, Any]:
    params: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "user": cfg.user,
        "password": cfg.password,
        "dbname": cfg.database,
        "sslmode": cfg.sslmode,
        "sslrootcert": cfg.sslrootcert,
        "sslcert": cfg.sslcert,
        "sslkey": cfg.sslkey,
    }
    params = {k: v for k, v in params.items() if v is not None}
    params["connect_timeout"] = max(2, int(connect_timeout(cfg.timeout)))  # libpq: whole seconds, 2 at least
    params["application_name"] = APPLICATION_NAME
    return params


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Connect, run the query and the role query; judge role and lag."""
    try:
        import psycopg
    except ImportError:
        return driver_missing("postgres")
    phases = Phases()
    params = _connect_params(cfg)
    try:
        with phases.timed("connect"):
            conn = await psycopg.AsyncConnection.connect(cfg.dsn or "", autocommit=True, **params)
    except psycopg.Error as exc:
        return Result.down(_connect_reason(exc, params["connect_timeout"]), phases=dict(phases))
    try:
        statement_timeout_ms = int(cfg.timeout * STATEMENT_TIMEOUT_SHARE * 1000)
        await conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(statement_timeout_ms)])
        with phases.timed("query"):
            cursor = await conn.execute(cfg.query)
            if cursor.description is not None:
                await cursor.fetchall()
        with phases.timed("role"):
            cursor = await conn.execute(_ROLE_QUERY)
            in_recovery, lag, streaming, version = await cursor.fetchone()
    except psycopg.Error as exc:
        return Result.down(f"query failed: {_server_message(exc)}", phases=dict(phases))
    finally:
        await conn.close()
    role: Role = "replica" if in_recovery else "primary"
    status, reason = judge_replication(role=role, expected=cfg.expect_role, lag=lag, levels=cfg.replication_lag)
    details: dict[str, Any] = {"role": role, "server_version": version, "phases": dict(phases)}
    if role == "replica":
        details["replication_lag_seconds"] = None if lag is None else round(lag, 3)
        details["streaming"] = streaming
    if status is Status.UP:
        reason = f"{reason}, PostgreSQL {version.split()[0]}"
    return Result(status, reason, details)


def _server_message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return primary
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connect_reason(exc: Exception, timeout_s: int) -> str:
    """libpq's connection error in a few words: `connection refused`, `database "x" does not
    exist`, `authentication failed for user "x"` ..."""
    text = str(exc).strip()
    if "timeout expired" in text:
        return f"connect timeout after {format_duration(timeout_s)}"
    if text.startswith("failed to resolve host"):
        if "not known" in text or "No address associated" in text:
            return "DNS: name does not resolve"
        return os_error_reason(exc) or f"DNS: {text}"
    # 'connection failed: connection to server at "h", port 5432 failed: FATAL:  <message>' (one
    # such line per address tried; the first says enough). libpq's second lines are hints.
    first = text.splitlines()[0] if text else type(exc).__name__
    message = first.rsplit(" failed: ", 1)[-1].strip()
    message = re.sub(r"^(FATAL|ERROR):\s+", "", message)
    if message.lower() in ("connection refused", "connection reset by peer", "no route to host"):
        return message.lower()
    auth = re.match(r'password authentication failed for user "(.*)"', message)
    if auth:
        return f'authentication failed for user "{auth.group(1)}"'
    if message.startswith("server does not support SSL"):
        return "TLS: " + message
    return message
