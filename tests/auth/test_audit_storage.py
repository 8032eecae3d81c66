"""The audit log table on all three databases: entries read newest first and filtered, texts cut to
their columns, acknowledgements found per alert, and kept exactly as long as alert events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from storage import audit
from storage.audit import AuditEntry
from storage.retention import Retention, apply_retention

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(any_db):
    return any_db


def entry(at: datetime, actor: str = "olga", **kw) -> AuditEntry:
    fields = {"role": "operator", "credential": "session", "action": "POST /api/v1/silences",
              "target": "/api/v1/silences", "address": "127.0.0.1", "status": 201, "outcome": "success", **kw}
    return AuditEntry(at=at, actor=actor, **fields)


def add(engine, *entries: AuditEntry) -> None:
    with Session(engine) as session, session.begin():
        for e in entries:
            audit.add_entry(session, entry=e)


def test_entries_newest_first_filtered_and_cut(engine):
    add(engine, entry(NOW - timedelta(hours=2)), entry(NOW - timedelta(hours=1), actor="alice", role="admin"),
        entry(NOW, target="/x" * 2000, detail="d" * 5000))
    with Session(engine) as session:
        rows = audit.entries(session)
        assert [r.actor for r in rows] == ["olga", "alice", "olga"]
        assert len(rows[0].target) == 1000 and len(rows[0].detail) == 1000
        assert [r.actor for r in audit.entries(session, actor="alice")] == ["alice"]
        window = audit.entries(session, start=NOW - timedelta(hours=1), end=NOW)
        assert [r.at for r in window] == [NOW - timedelta(hours=1)]
        assert len(audit.entries(session, limit=2)) == 2


def test_acknowledgements_by_alert(engine):
    ack = {"action": audit.ACK_ACTION, "target": "/api/v1/alerts/check:paas/web/ack", "status": 200}
    add(engine, entry(NOW, detail="acknowledged by olga", **ack),
        entry(NOW + timedelta(minutes=1), actor="api_token", detail="acknowledged by ann", **ack),
        entry(NOW + timedelta(minutes=2), outcome="refused", **{**ack, "status": 403}),
        entry(NOW, **{**ack, "target": "/api/v1/alerts/check:other/x/ack"}))
    with Session(engine) as session:
        found = audit.acknowledgements(session, keys=["check:paas/web"], start=NOW - timedelta(hours=1),
                                       end=NOW + timedelta(hours=1))
    assert [(a.key, a.by) for a in found] == [("check:paas/web", "olga"), ("check:paas/web", "ann")]


def test_kept_as_long_as_alert_events(engine):
    keep = timedelta(days=400)
    add(engine, entry(NOW - keep - timedelta(days=1)), entry(NOW - keep + timedelta(days=1)))
    retention = Retention(raw=None, rollup_5m=None, rollup_1h=None, rollup_1d=None, state_changes=None,
                          alert_outbox=None, alert_events=keep)
    assert apply_retention(engine, now=NOW.timestamp(), retention=retention) == {"audit_log": 1}
    with Session(engine) as session:
        assert len(audit.entries(session)) == 1
