"""The mysql probe against real MariaDB servers: the shared one (a fresh database per test) and a
private primary with a replica (password, roles, stopped replication, real replication lag)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import make_url

from monitor.redact import REDACTED, redact_settings
from probes import mysql
from probes.base import ProbeContext, Status
from tests.peers import free_port
from tests.services.db_servers import mysql_root

MysqlPair = Any  # tests.services.db_servers.MysqlPair


def check(**settings: Any) -> mysql.Check:
    return mysql.Check(name="db", component="data", **settings)


def url_settings(sqlalchemy_url: str) -> dict[str, Any]:
    url = make_url(sqlalchemy_url)
    settings = {"host": url.host, "port": url.port or 3306, "user": url.username, "database": url.database}
    return settings | ({"password": url.password} if url.password else {})


async def test_up_with_role_version_and_phases(mysql_url: str, ctx: ProbeContext) -> None:
    result = await mysql.probe(check(**url_settings(mysql_url)), ctx)
    assert result.status is Status.UP, result.reason
    assert result.reason.startswith("primary, ")
    assert result.details["role"] == "primary" and result.details["read_only"] is False
    assert set(result.details["phases"]) == {"connect", "query", "role"}


async def test_unknown_database_closed_port_bad_query(mysql_url: str, ctx: ProbeContext) -> None:
    settings = url_settings(mysql_url)
    result = await mysql.probe(check(**{**settings, "database": "pm_no_such_db"}), ctx)
    assert (result.status, result.reason) == (Status.DOWN, 'database "pm_no_such_db" does not exist')
    closed = await mysql.probe(check(**{**settings, "port": free_port()}), ctx)
    assert (closed.status, closed.reason) == (Status.DOWN, "connection refused")
    query = await mysql.probe(check(**settings, query="SELECT * FROM no_such_table"), ctx)
    assert query.reason == f"query failed: Table '{settings['database']}.no_such_table' doesn't exist"
    tls = await mysql.probe(check(**settings, tls={"verify": False}), ctx)
    assert tls.reason == "TLS: SSL is required but the server doesn't support it"


@pytest.fixture
def monitor_user(mysql_pair: MysqlPair) -> Iterator[tuple[str, str]]:
    with mysql_root(mysql_pair.primary_port) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS 'monitor'@'127.0.0.1' IDENTIFIED BY 'mon-pw-1'")
        cursor.execute("GRANT REPLICA MONITOR ON *.* TO 'monitor'@'127.0.0.1'")
    yield "monitor", "mon-pw-1"


async def test_password_authentication(mysql_pair: MysqlPair, monitor_user: tuple[str, str],
                                       ctx: ProbeContext) -> None:
    user, password = monitor_user
    settings = {"host": "127.0.0.1", "port": mysql_pair.primary_port, "user": user}
    good = await mysql.probe(check(**settings, password=password, expect_role="primary"), ctx)
    assert good.status is Status.UP, good.reason
    bad = await mysql.probe(check(**settings, password="wrong"), ctx)
    assert bad.status is Status.DOWN
    assert bad.reason == "authentication failed: Access denied for user 'monitor'@'127.0.0.1' (using password: YES)"


async def test_roles_and_stopped_replication(mysql_pair: MysqlPair, ctx: ProbeContext) -> None:
    replica = {"host": "127.0.0.1", "port": mysql_pair.replica_port}
    result = await wait_until(ctx, check(**replica, expect_role="replica"), Status.UP)
    assert result.details["io_running"] == "Yes" and result.details["sql_running"] == "Yes"
    assert result.details["source"] == f"127.0.0.1:{mysql_pair.primary_port}"
    assert result.reason.startswith("replica, lag 0s")
    wrong = await mysql.probe(check(**replica, expect_role="primary"), ctx)
    assert (wrong.status, wrong.reason) == (Status.DOWN, "role is replica (expected primary)")

    with mysql_root(mysql_pair.replica_port) as conn, conn.cursor() as cursor:
        cursor.execute("STOP SLAVE IO_THREAD")
        try:
            stopped = await mysql.probe(check(**replica, expect_role="replica"), ctx)
            assert stopped.status is Status.DOWN
            assert stopped.reason == "replication stopped: IO thread No, SQL thread Yes"
            # Nobody asked about replication: the server answers, that is enough.
            plain = await mysql.probe(check(**replica), ctx)
            assert plain.status is Status.UP and plain.details["io_running"] == "No"
        finally:
            cursor.execute("START SLAVE IO_THREAD")

    with mysql_root(mysql_pair.primary_port) as conn, conn.cursor() as cursor:
        cursor.execute("SET GLOBAL read_only = 1")
        try:
            primary = {"host": "127.0.0.1", "port": mysql_pair.primary_port}
            ro = await mysql.probe(check(**primary, expect_role="primary"), ctx)
            assert (ro.status, ro.reason) == (Status.DOWN, "read_only is ON (expected a writable primary)")
            ro_replica = await mysql.probe(check(**primary, expect_role="replica"), ctx)
            assert ro_replica.reason == "read_only is ON, but no replication is configured"
        finally:
            cursor.execute("SET GLOBAL read_only = 0")


async def test_replication_lag_levels(mysql_pair: MysqlPair, ctx: ProbeContext) -> None:
    """The replica's SQL thread waits on a table lock while the primary commits: Seconds_Behind_Master
    grows for real, second by second."""
    with mysql_root(mysql_pair.primary_port) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS pmlag")
        cursor.execute("CREATE TABLE IF NOT EXISTS pmlag.t (i INT)")
    lagging = {"host": "127.0.0.1", "port": mysql_pair.replica_port}
    await wait_until(ctx, check(**lagging, query="SELECT * FROM pmlag.t"), Status.UP)
    with mysql_root(mysql_pair.replica_port) as locker, locker.cursor() as lock:
        lock.execute("LOCK TABLES pmlag.t WRITE")
        try:
            with mysql_root(mysql_pair.primary_port) as conn, conn.cursor() as cursor:
                cursor.execute("INSERT INTO pmlag.t VALUES (1)")
            degraded = await wait_until(ctx, check(**lagging, replication_lag={"warn": "1s", "critical": "1h"}),
                                        Status.DEGRADED)
            assert degraded.reason.startswith("replication lag ") and degraded.reason.endswith("(> 1s warn)")
            assert degraded.details["replication_lag_seconds"] >= 2
            down = await wait_until(ctx, check(**lagging, replication_lag={"warn": "1s", "critical": "2s"}),
                                    Status.DOWN)
            assert down.reason.endswith("(> 2s critical)")
        finally:
            lock.execute("UNLOCK TABLES")
    await wait_until(ctx, check(**lagging, replication_lag={"warn": "1s", "critical": "2s"}), Status.UP)


WAIT_SECONDS = 15.0


async def wait_until(ctx: ProbeContext, cfg: mysql.Check, want: Status):
    """Probe until the result has status `want` (replication is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        result = await mysql.probe(cfg, ctx)
        if result.status is want or asyncio.get_running_loop().time() > deadline:
            assert result.status is want, result.reason
            return result
        await asyncio.sleep(0.05)


async def test_missing_driver_is_a_down_reason(monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)
    result = await mysql.probe(check(host="127.0.0.1"), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "driver not installed: pip install 'platform-monitor[mysql]'"


def test_password_is_redacted() -> None:
    shown = redact_settings(check(host="db", password="literal-pw", tls={"ca_file": "/etc/ca.pem"}))
    assert shown["password"] == REDACTED
    assert shown["tls"]["ca_file"] == "/etc/ca.pem"
