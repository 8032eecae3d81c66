"""The postgres probe against real PostgreSQL servers: the shared one (a fresh database per test)
and a private primary that checks passwords with its streaming replica (role and lag)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from monitor.config import ConfigError, parse_config
from monitor.redact import REDACTED, redact_settings
from probes import postgres
from probes.base import ProbeContext, Status
from tests.peers import free_port
from tests.targets import wait_for

PgPair = Any  # tests.services.db_servers.PgPair


def check(**settings: Any) -> postgres.Check:
    return postgres.Check(name="db", component="data", **settings)


def url_settings(sqlalchemy_url: str) -> dict[str, Any]:
    url = make_url(sqlalchemy_url)
    return {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
            "database": url.database}


async def test_up_with_role_version_and_phases(postgres_url: str, ctx: ProbeContext) -> None:
    result = await postgres.probe(check(**url_settings(postgres_url)), ctx)
    assert result.status is Status.UP, result.reason
    assert result.reason.startswith("primary, PostgreSQL ")
    assert result.details["role"] == "primary"
    assert set(result.details["phases"]) == {"connect", "query", "role"}


async def test_dsn_and_custom_query(postgres_url: str, ctx: ProbeContext) -> None:
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    result = await postgres.probe(check(dsn=dsn, query="SELECT count(*) FROM pg_class"), ctx)
    assert result.status is Status.UP, result.reason
    failed = await postgres.probe(check(dsn=dsn, query="SELECT * FROM no_such_table"), ctx)
    assert (failed.status, failed.reason) == (Status.DOWN, 'query failed: relation "no_such_table" does not exist')


async def test_unknown_database_and_closed_port(postgres_url: str, ctx: ProbeContext) -> None:
    settings = url_settings(postgres_url)
    result = await postgres.probe(check(**{**settings, "database": "pm_no_such_db"}), ctx)
    assert (result.status, result.reason) == (Status.DOWN, 'database "pm_no_such_db" does not exist')
    closed = await postgres.probe(check(**{**settings, "port": free_port()}), ctx)
    assert (closed.status, closed.reason) == (Status.DOWN, "connection refused")
    tls = await postgres.probe(check(**settings, sslmode="require"), ctx)
    assert tls.reason == "TLS: server does not support SSL, but SSL was required"


async def test_wrong_password(pg_pair: PgPair, ctx: ProbeContext) -> None:
    settings = {"host": "127.0.0.1", "port": pg_pair.primary_port, "user": "postgres", "database": "postgres"}
    good = await postgres.probe(check(**settings, password=pg_pair.password), ctx)
    assert good.status is Status.UP, good.reason
    bad = await postgres.probe(check(**settings, password="wrong"), ctx)
    assert (bad.status, bad.reason) == (Status.DOWN, 'authentication failed for user "postgres"')


async def test_roles_of_primary_and_replica(pg_pair: PgPair, ctx: ProbeContext) -> None:
    def on(port: int, **settings: Any) -> postgres.Check:
        return check(host="127.0.0.1", port=port, user="postgres", password=pg_pair.password, **settings)

    replica = await postgres.probe(on(pg_pair.replica_port, expect_role="replica"), ctx)
    assert replica.status is Status.UP, replica.reason
    assert replica.details["role"] == "replica" and replica.details["streaming"] is True
    assert replica.details["replication_lag_seconds"] == 0.0
    wrong = await postgres.probe(on(pg_pair.replica_port, expect_role="primary"), ctx)
    assert (wrong.status, wrong.reason) == (Status.DOWN, "role is replica (expected primary)")
    primary = await postgres.probe(on(pg_pair.primary_port, expect_role="primary"), ctx)
    assert primary.status is Status.UP and "replication_lag_seconds" not in primary.details
    not_replica = await postgres.probe(on(pg_pair.primary_port, expect_role="replica"), ctx)
    assert not_replica.reason == "role is primary (expected replica)"


_CAUGHT_UP = ("SELECT pg_last_xact_replay_timestamp() IS NOT NULL"
              " AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()")


async def test_replication_lag_levels(pg_pair: PgPair, ctx: ProbeContext) -> None:
    """Replay paused on the replica while the primary commits: the lag grows for real."""
    def connect(port: int) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=pg_pair.password,
                               dbname="postgres", autocommit=True)

    def lagging(levels: dict[str, str]) -> postgres.Check:
        return check(host="127.0.0.1", port=pg_pair.replica_port, user="postgres", password=pg_pair.password,
                     replication_lag=levels)

    async def status_of(levels: dict[str, str]) -> tuple[Status, str]:
        result = await postgres.probe(lagging(levels), ctx)
        return result.status, result.reason

    with connect(pg_pair.primary_port) as primary, connect(pg_pair.replica_port) as replica:
        primary.execute("CREATE TABLE IF NOT EXISTS beat (t timestamptz)")
        primary.execute("INSERT INTO beat VALUES (now())")
        wait_for(lambda: replica.execute(_CAUGHT_UP).fetchone()[0], what="the replica to replay the first commit")
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            primary.execute("INSERT INTO beat VALUES (now())")  # received, not replayed

            async def poll(levels: dict[str, str], want: Status) -> str:
                for _ in range(100):
                    status, reason = await status_of(levels)
                    if status is want:
                        return reason
                    await asyncio.sleep(0.05)
                raise AssertionError(f"lag never reached {want}: {reason}")

            reason = await poll({"warn": "200ms", "critical": "1h"}, Status.DEGRADED)
            assert reason.startswith("replication lag ") and reason.endswith("(> 200ms warn)")
            reason = await poll({"warn": "100ms", "critical": "300ms"}, Status.DOWN)
            assert reason.endswith("(> 300ms critical)")
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
        wait_for(lambda: replica.execute(_CAUGHT_UP).fetchone()[0], what="replay to catch up")
    status, reason = await status_of({"warn": "200ms", "critical": "1h"})
    assert status is Status.UP and reason.startswith("replica, lag 0")


async def test_missing_driver_is_a_down_reason(monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg → ImportError
    result = await postgres.probe(check(host="127.0.0.1"), ctx)
    assert result.status is Status.DOWN
    assert result.reason == "driver not installed: pip install 'platform-monitor[postgres]'"


def test_config_rules_and_redaction() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("checks: [{name: db, component: data, kind: postgres, dsn: 'host=x password=y'}]", env={})
    assert info.value.errors == ["checks[0] (data/db).dsn: dsn must be a postgresql:// URL "
                                 "(or use host, port, user, password, database)"]
    with pytest.raises(ConfigError, match="give dsn or host"):
        parse_config("checks: [{name: db, component: data, kind: postgres}]", env={})
    config = parse_config(
        "checks: [{name: db, component: data, kind: postgres, dsn: 'postgresql://mon:pw-in-url@db:5432/app',"
        " password: literal-pw, expect_role: replica, replication_lag: {warn: 30s, critical: 5m}}]", env={})
    shown = redact_settings(config.checks[0])
    assert shown["password"] == REDACTED
    assert shown["dsn"] == f"postgresql://mon:{REDACTED}@db:5432/app"
    assert shown["replication_lag"] == {"warn": "30s", "critical": "5m"}
