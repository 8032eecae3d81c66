"""Alert storage on all three databases: decisions saved with their outbox rows in one
transaction, saved twice without duplicates, pending rows read back, outcomes and silences."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session

from storage import alert_queries


@pytest.fixture
def engine(any_db):
    """Every test here runs on SQLite, PostgreSQL and MariaDB (tests/peer_databases.py)."""
    return any_db


def decision(now: float, seq: int = 1) -> dict:
    payload = {"type": "firing", "alert": {"key": "check:a/b", "labels": {"team": "ü"}}, "summary": "a/b is down"}
    state = {"key": "check:a/b", "status": "firing", "episode_start": now - 5, "seq": seq, "notified": True,
             "fired_at": now, "last_notified_at": now, "resolved_at": None, "acknowledged_by": None,
             "suppressed_by": None, "payload": payload, "updated_at": now}
    event = {"event_id": f"ev{seq}", "key": "check:a/b", "type": "firing", "at": now, "suppressed_by": None,
             "receivers": ["hook", "am"], "payload": payload}
    outbox = [{"event_id": f"ev{seq}", "receiver": r, "key": "check:a/b", "created_at": now, "attempts": 0,
               "next_attempt_at": now, "outcome": "pending", "delivered_at": None, "last_error": None,
               "updated_at": now} for r in ("hook", "am")]
    return {"states": [state], "events": [event], "outbox": outbox}


def test_decisions_outbox_and_silences_round_trip(engine):
    now = time.time()
    for _ in range(2):  # saving the same decision again changes nothing
        with Session(engine) as s, s.begin():
            alert_queries.save_alerts(s, **decision(now))
    with Session(engine) as s, s.begin():
        [state] = alert_queries.active_alert_states(s)
        assert state.seq == 1 and state.notified and state.payload["alert"]["labels"] == {"team": "ü"}
        pending = alert_queries.pending_outbox(s)
        assert [(row.receiver, payload["summary"]) for row, payload in pending] == [("hook", "a/b is down"),
                                                                                  ("am", "a/b is down")]
        alert_queries.mark_delivery(s, event_id="ev1", receiver="hook", outcome="delivered", attempts=1,
                                    next_attempt_at=now, now=now + 1)
        alert_queries.mark_delivery(s, event_id="ev1", receiver="am", outcome="pending", attempts=3,
                                    next_attempt_at=now + 60, now=now + 1, last_error="connection refused")
    with Session(engine) as s, s.begin():
        [(row, _)] = alert_queries.pending_outbox(s)
        assert (row.receiver, row.attempts, row.last_error) == ("am", 3, "connection refused")
        assert alert_queries.delivery_counts(s) == {("hook", "delivered"): 1, ("am", "pending"): 1}
        resolved = decision(now + 2, seq=2)
        resolved["states"][0]["status"] = "resolved"
        alert_queries.save_alerts(s, states=resolved["states"], events=[], outbox=[])
        assert alert_queries.active_alert_states(s) == []

        alert_queries.add_silence(s, row={"id": "s1", "matchers": {"component": "a"}, "starts_at": now - 1,
                                          "ends_at": now + 3600, "created_by": "alice", "comment": "upgrade",
                                          "created_at": now, "deleted_at": None})
        assert [x.id for x in alert_queries.current_silences(s, now=now)] == ["s1"]
        assert alert_queries.delete_silence(s, silence_id="s1", now=now)
        assert not alert_queries.delete_silence(s, silence_id="s1", now=now)
        assert alert_queries.current_silences(s, now=now) == []
