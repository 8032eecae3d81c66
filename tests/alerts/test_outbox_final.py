"""A final delivery outcome is final: the late `pending` write of an earlier attempt (queued on the
writer while the final one was written at once) does not reopen the row, so nothing is sent again
after a restart or a takeover."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import alert_queries
from storage.alert_models import AlertOutboxRow


def test_a_delivered_row_stays_delivered(any_db):
    event = {"event_id": "e1", "key": "check:a/b", "type": "firing", "at": 100.0, "suppressed_by": None,
             "receivers": ["hook"], "payload": {"x": 1}}
    row = {"event_id": "e1", "receiver": "hook", "key": "check:a/b", "created_at": 100.0, "attempts": 0,
           "next_attempt_at": 100.0, "outcome": "pending", "delivered_at": None, "last_error": None,
           "updated_at": 100.0}
    with Session(any_db) as s, s.begin():
        alert_queries.save_alerts(s, states=[], events=[event], outbox=[row])
    with Session(any_db) as s, s.begin():
        alert_queries.mark_delivery(s, event_id="e1", receiver="hook", outcome="delivered", attempts=2,
                                    next_attempt_at=101.0, now=102.0)
    with Session(any_db) as s, s.begin():  # the earlier attempt's retry mark, arriving late
        alert_queries.mark_delivery(s, event_id="e1", receiver="hook", outcome="pending", attempts=1,
                                    next_attempt_at=101.0, now=101.0, last_error="timeout")
    with Session(any_db) as s:
        stored = s.scalars(select(AlertOutboxRow)).one()
        assert (stored.outcome, stored.attempts, stored.last_error) == ("delivered", 2, None)
        assert alert_queries.pending_outbox(s) == []
