"""Heartbeat pings in storage on SQLite, PostgreSQL and MariaDB: stored, read newest first, kept
to KEPT_PINGS per check, a body of 10 KB of any text intact."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.heartbeat_models import PingRow
from storage.heartbeats import KEPT_PINGS, add_ping, recent_pings


def test_pings_are_stored_read_newest_first_and_pruned(any_db):
    body = ("é中\ufffd<script>alert(1)</script>\n" * 400)[: 10 * 1024]
    for i in range(KEPT_PINGS + 5):
        with Session(any_db) as session, session.begin():
            add_ping(session, check_id="backups/job", ts=1000.0 + i, kind="start" if i % 2 else "success",
                     exit_status=None if i % 3 else 0, body=body if i == KEPT_PINGS + 4 else "")
    with Session(any_db) as session, session.begin():
        add_ping(session, check_id="other/job", ts=5.5, kind="fail", exit_status=255, body="")
    with Session(any_db) as session:
        newest = recent_pings(session, check_id="backups/job", limit=3)
        kept = session.scalar(select(func.count()).select_from(PingRow).where(PingRow.check_id == "backups/job"))
        other = recent_pings(session, check_id="other/job", limit=20)
    assert kept == KEPT_PINGS
    assert [(p.ts_ms, p.kind) for p in newest] == [(1104000, "success"), (1103000, "start"), (1102000, "success")]
    assert newest[0].body == body and newest[0].exit_status is None
    assert [(p.ts_ms, p.kind, p.exit_status) for p in other] == [(5500, "fail", 255)]


def test_migration_0006_goes_down_and_up_again(any_db):
    from alembic import command
    from sqlalchemy import inspect

    from storage.db import alembic_config, upgrade

    command.downgrade(alembic_config(any_db), "0005")
    assert "heartbeat_pings" not in inspect(any_db).get_table_names()
    upgrade(any_db)
    assert "heartbeat_pings" in inspect(any_db).get_table_names()
    assert {i["name"] for i in inspect(any_db).get_indexes("heartbeat_pings")} == {"ix_heartbeat_pings_check_ts"}
