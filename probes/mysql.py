"""The `mysql` probe (MySQL and MariaDB): connect and authenticate, run a trivial query, read the
server's role (read_only, replica status) and a replica's lag. PyMySQL is sync and an optional
extra: it runs on a thread of its own per run. Never writes to the server."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from probes.base import CheckBase, ProbeContext, Result, Status, format_duration, os_error_reason
from probes.database import LagLevels, Phases, Role, connect_timeout, driver_missing, judge_replication, run_in_thread
from probes.tls_client import TlsSettings, tls_error_reason

__all__ = ["Check", "probe"]

# MySQL error codes (include/mysqld_error.h, errmsg.h) a user meets when a check fails.
ER_ACCESS_DENIED = (1045, 1698)  # wrong password; no such user / plugin refused
ER_BAD_DB = 1049
ER_PARSE = 1064
CR_CONNECTION = 2003
CR_SERVER_LOST = 2013
_UNKNOWN_DB = re.compile(r"Unknown database '(.*)'")


class Check(CheckBase):
    """Connect to a MySQL or MariaDB server, run `query`, check its role and replication."""

    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    kind: Literal["mysql"] = "mysql"
    host: str
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = "root"
    password: str | None = None
    database: str | None = None
    tls: TlsSettings | None = None
    """Require TLS with these settings; unset: no TLS."""
    query: str = Field(default="SELECT 1", min_length=1)
    expect_role: Role | None = None
    """`replica`: replication is configured (or the server is read_only) and both its threads run."""
    replication_lag: LagLevels | None = None
    """On a replica, Seconds_Behind_Master (MariaDB) / Seconds_Behind_Source (MySQL): above
    `warn` → degraded, above `critical` → down."""


@dataclass(slots=True)
class _Facts:
    version: str = ""
    read_only: bool = False
    replica_status: dict[str, Any] | None = None
    status_error: str | None = None
    phases: Phases = field(default_factory=Phases)


class _Failed(Exception):
    """The run failed; the message is the reason."""


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    """Connect, run the query, read role and replication; judge them."""
    try:
        import pymysql
    except ImportError:
        return driver_missing("mysql")
    try:
        context = ctx.clients.ssl_context(**cfg.tls.model_dump()) if cfg.tls is not None else None
    except (OSError, ValueError) as exc:  # unreadable CA/cert/key file; ssl.SSLError is an OSError
        return Result.down(f"TLS settings: {exc}")
    facts = _Facts()
    try:
        await run_in_thread(lambda: _converse(pymysql, cfg, context, facts), name=f"mysql-probe {cfg.id}")
    except _Failed as exc:
        return Result.down(str(exc), phases=dict(facts.phases))
    return _judge(cfg, facts)


def _converse(pymysql: Any, cfg: Check, context: ssl.SSLContext | None, facts: _Facts) -> None:
    """The blocking part: everything said to the server, on the probe's own thread."""
    try:
        with facts.phases.timed("connect"):
            conn = pymysql.connect(
                host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password or "", database=cfg.database,
                ssl=context, connect_timeout=connect_timeout(cfg.timeout),
                # Under the runner's timeout, so a silent server gets a reason of its own; the thread
                # outlives a cancelled run by at most this.
                read_timeout=connect_timeout(cfg.timeout), write_timeout=connect_timeout(cfg.timeout),
                autocommit=True,
                program_name="platform-monitor",
            )
    except pymysql.Error as exc:
        raise _Failed(_connect_reason(exc, cfg)) from None
    try:
        with conn.cursor() as cursor:
            with facts.phases.timed("query"):
                cursor.execute(cfg.query)
                cursor.fetchall()
            with facts.phases.timed("role"):
                cursor.execute("SELECT VERSION(), @@read_only")
                facts.version, read_only = cursor.fetchone()
                facts.read_only = bool(int(read_only))
                facts.replica_status, facts.status_error = _replica_status(pymysql, cursor)
    except pymysql.Error as exc:
        raise _Failed(f"query failed: {_message(exc)}") from None
    finally:
        conn.close()


def _replica_status(pymysql: Any, cursor: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The replica status row (None on a server that replicates from nobody), or why it could
    not be read. SHOW REPLICA STATUS since MySQL 8.0.22 / MariaDB 10.5.1, SLAVE before."""
    for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            cursor.execute(statement)
        except pymysql.err.ProgrammingError as exc:
            if exc.args and exc.args[0] == ER_PARSE:
                continue
            return None, _message(exc)
        except pymysql.err.OperationalError as exc:  # missing privilege
            return None, _message(exc)
        row = cursor.fetchone()
        if row is None:
            return None, None
        names = [column[0] for column in cursor.description]
        return dict(zip(names, row, strict=True)), None
    return None, "neither SHOW REPLICA STATUS nor SHOW SLAVE STATUS is understood"


def _field(status: dict[str, Any], *names: str) -> Any:
    """A replica status field under its MySQL 8 name or its older (MariaDB) one."""
    return next((status[name] for name in names if name in status), None)


def _judge(cfg: Check, facts: _Facts) -> Result:
    status_row = facts.replica_status
    role: Role = "replica" if status_row is not None or facts.read_only else "primary"
    details: dict[str, Any] = {"role": role, "server_version": facts.version, "read_only": facts.read_only,
                               "replication_configured": status_row is not None, "phases": dict(facts.phases)}
    wants_replication = cfg.expect_role == "replica" or cfg.replication_lag is not None
    if facts.status_error is not None and wants_replication:
        return Result.down(f"cannot read the replica status: {facts.status_error}", **details)
    lag = None
    if status_row is not None:
        io = _field(status_row, "Replica_IO_Running", "Slave_IO_Running")
        sql = _field(status_row, "Replica_SQL_Running", "Slave_SQL_Running")
        lag = _field(status_row, "Seconds_Behind_Source", "Seconds_Behind_Master")
        details.update(io_running=io, sql_running=sql, replication_lag_seconds=lag,
                       source=f"{_field(status_row, 'Source_Host', 'Master_Host')}:"
                              f"{_field(status_row, 'Source_Port', 'Master_Port')}")
        if (io != "Yes" or sql != "Yes") and wants_replication:
            error = _field(status_row, "Last_IO_Error") if io != "Yes" else _field(status_row, "Last_SQL_Error")
            reason = f"replication stopped: IO thread {io}, SQL thread {sql}"
            return Result.down(f"{reason} ({error})" if error else reason, **details)
    elif facts.read_only and cfg.expect_role == "primary":
        return Result.down("read_only is ON (expected a writable primary)", **details)
    elif facts.read_only and wants_replication:
        return Result.down("read_only is ON, but no replication is configured", **details)
    status, reason = judge_replication(role=role, expected=cfg.expect_role, lag=None if lag is None else float(lag),
                                       levels=cfg.replication_lag)
    if status is Status.UP:
        reason = f"{reason}, {facts.version}"
    return Result(status, reason, details)


def _message(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    return str(args[1]) if len(args) >= 2 else str(exc) or type(exc).__name__


def _connect_reason(exc: Exception, cfg: Check) -> str:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = _message(exc)
    if code in ER_ACCESS_DENIED:
        return f"authentication failed: {message}"
    if code == ER_BAD_DB:
        match = _UNKNOWN_DB.search(message)
        return f'database "{match.group(1) if match else cfg.database}" does not exist'
    tls = tls_error_reason(exc)
    if tls:
        return tls
    if code == CR_CONNECTION:
        if "timed out" in message:
            return f"connect timeout after {format_duration(round(connect_timeout(cfg.timeout), 3))}"
        return os_error_reason(exc) or message
    if code == CR_SERVER_LOST:  # during connect: the handshake, whatever the message says
        detail = message.rsplit("(", 1)[-1].rstrip(")") if "(" in message else "closed"
        return f"connection lost during the MySQL handshake ({detail})"
    if "SSL" in message:
        return f"TLS: {message}"
    return message
