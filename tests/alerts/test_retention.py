"""Retention of the alerting tables on all three databases: finished deliveries and events older
than their windows go, a pending delivery (and its event) stays however old, current alert
states and silences not yet over stay; the report names only the tables rows went from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import alert_queries
from storage.alert_models import AlertEventRow, AlertOutboxRow, AlertStateRow, SilenceRow
from storage.retention import Retention, apply_retention

NOW = 1_800_000_000.0  # whole seconds: cutoffs fall on exact milliseconds
DAY = 86_400.0
MS = 0.001


@pytest.fixture
def engine(any_db):
    """Every test here runs on SQLite, PostgreSQL and MariaDB (tests/peer_databases.py)."""
    return any_db


def alerts_only(**windows: timedelta | None) -> Retention:
    """The given alerting windows, every other kind kept: the report holds the alert tables only."""
    return Retention(raw=None, rollup_5m=None, rollup_1h=None, rollup_1d=None, state_changes=None, **windows)


def event(event_id: str, at: float, key: str = "check:a/b") -> dict:
    return {"event_id": event_id, "key": key, "type": "firing", "at": at, "suppressed_by": None,
            "receivers": ["hook"], "payload": {"type": "firing", "summary": f"{event_id} fired"}}


def delivery(event_id: str, created: float) -> dict:
    return {"event_id": event_id, "receiver": "hook", "key": "check:a/b", "created_at": created, "attempts": 0,
            "next_attempt_at": created, "outcome": "pending", "delivered_at": None, "last_error": None,
            "updated_at": created}


def store(engine, *, events: list[dict], outcomes: dict[str, tuple[str, float]]) -> None:
    """Save events with one delivery each, as the alerting does, then mark each listed one's
    outcome as the sender does: event id → (outcome, time of the last attempt)."""
    with Session(engine) as s, s.begin():
        alert_queries.save_alerts(s, states=[], events=events,
                                  outbox=[delivery(e["event_id"], e["at"]) for e in events])
    with Session(engine) as s, s.begin():
        for event_id, (outcome, when) in outcomes.items():
            alert_queries.mark_delivery(s, event_id=event_id, receiver="hook", outcome=outcome, attempts=1,
                                        next_attempt_at=when, now=when, last_error=None)


def ids(engine, column) -> list[str]:
    with Session(engine) as s:
        return sorted(s.scalars(select(column)))


def test_finished_deliveries_older_than_the_outbox_window_go_pending_ones_stay(engine):
    edge = NOW - 30 * DAY
    events = [event(name, edge - 50 * DAY) for name in (
        "delivered-old", "rejected-old", "expired-old", "dropped-old", "delivered-at-edge", "finished-late",
        "retried-pending", "never-tried")]
    events.append(event("delivered-recent", NOW - DAY))
    store(engine, events=events, outcomes={
        "delivered-old": ("delivered", edge - 49 * DAY),
        "rejected-old": ("rejected", edge - 20 * DAY),
        "expired-old": ("expired", edge - 1 * DAY),
        "dropped-old": ("dropped", edge - MS),
        "delivered-at-edge": ("delivered", edge),  # finished exactly 30 days ago: not older than the window
        "finished-late": ("delivered", edge + DAY),  # created long ago, last attempt within the window
        "retried-pending": ("pending", edge - 40 * DAY),  # to be retried: never deleted, however old
        "delivered-recent": ("delivered", NOW - DAY + 5),
    })
    retention = alerts_only(alert_events=None, alert_outbox=timedelta(days=30))
    assert apply_retention(engine, now=NOW, retention=retention) == {"alert_outbox": 4}
    assert ids(engine, AlertOutboxRow.event_id) == ["delivered-at-edge", "delivered-recent", "finished-late",
                                                    "never-tried", "retried-pending"]
    assert len(ids(engine, AlertEventRow.event_id)) == 9  # events are another window
    with Session(engine) as s:  # the sender still finds what it has to deliver, with its payload
        pending = alert_queries.pending_outbox(s)
    assert sorted((row.event_id, payload["summary"]) for row, payload in pending) == [
        ("never-tried", "never-tried fired"), ("retried-pending", "retried-pending fired")]
    assert apply_retention(engine, now=NOW, retention=retention) == {}  # nothing left to delete: not reported


def test_events_older_than_their_window_go_unless_a_delivery_is_pending(engine):
    edge = NOW - 400 * DAY
    # spread over many days (chunks), the oldest held by its pending delivery: stepped over, not looped on
    old = [event(f"old-{d}", edge - d * DAY) for d in range(1, 6)]
    events = [event("held", edge - 600 * DAY), *old, event("just-before", edge - MS), event("at-edge", edge),
              event("recent", NOW - DAY)]
    store(engine, events=events, outcomes={e["event_id"]: ("delivered", e["at"] + 1) for e in events
                                           if e["event_id"] != "held"})
    retention = alerts_only(alert_events=timedelta(days=400), alert_outbox=None)
    assert apply_retention(engine, now=NOW, retention=retention) == {"alert_events": 6}
    assert ids(engine, AlertEventRow.event_id) == ["at-edge", "held", "recent"]
    with Session(engine) as s:
        [(row, payload)] = alert_queries.pending_outbox(s)
    assert (row.event_id, payload["summary"]) == ("held", "held fired")
    # once delivered, the held event goes too (its delivery is then a finished one like any other)
    store(engine, events=[], outcomes={"held": ("delivered", NOW - 1)})
    assert apply_retention(engine, now=NOW, retention=retention) == {"alert_events": 1}
    assert ids(engine, AlertEventRow.event_id) == ["at-edge", "recent"]


def test_silences_over_before_the_events_cutoff_go_and_alert_states_stay(engine):
    edge = NOW - 400 * DAY

    def silence(sid: str, *, starts: float, ends: float, deleted: float | None = None) -> dict:
        return {"id": sid, "matchers": {"component": "a"}, "starts_at": starts, "ends_at": ends,
                "created_by": "alice", "comment": "", "created_at": starts, "deleted_at": deleted}

    with Session(engine) as s, s.begin():
        for row in (
            silence("ended-long-ago", starts=edge - 2 * DAY, ends=edge - MS),
            silence("deleted-long-ago", starts=edge - 2 * DAY, ends=NOW + 365 * DAY, deleted=edge - DAY),
            silence("ended-at-edge", starts=edge - DAY, ends=edge),
            silence("ended-recently", starts=edge - DAY, ends=NOW - DAY),
            silence("deleted-recently", starts=edge - DAY, ends=NOW + 100 * DAY, deleted=NOW - DAY),
            silence("active-for-years", starts=edge - 1000 * DAY, ends=NOW + DAY),
            silence("to-come", starts=NOW + DAY, ends=NOW + 2 * DAY),
        ):
            alert_queries.add_silence(s, row=row)
        for key, status in (("check:a/old", "resolved"), ("check:a/firing", "firing")):
            s.add(AlertStateRow(key=key, status=status, episode_start=edge - 900 * DAY, seq=3, notified=True,
                                payload={}, updated_at=edge - 800 * DAY))
    retention = alerts_only(alert_events=timedelta(days=400))
    assert apply_retention(engine, now=NOW, retention=retention) == {"silences": 2}
    assert ids(engine, SilenceRow.id) == ["active-for-years", "deleted-recently", "ended-at-edge", "ended-recently",
                                          "to-come"]
    assert ids(engine, AlertStateRow.key) == ["check:a/firing", "check:a/old"]
    with Session(engine) as s:
        assert [x.id for x in alert_queries.current_silences(s, now=NOW)] == ["active-for-years", "to-come"]


def test_forever_keeps_every_alert_row(engine):
    store(engine, events=[event("ancient", NOW - 5000 * DAY)], outcomes={"ancient": ("delivered", NOW - 5000 * DAY)})
    with Session(engine) as s, s.begin():
        alert_queries.add_silence(s, row={"id": "s", "matchers": {}, "starts_at": 0.0, "ends_at": 1.0,
                                          "created_by": "", "comment": "", "created_at": 0.0, "deleted_at": None})
    assert apply_retention(engine, now=NOW, retention=alerts_only(alert_events=None, alert_outbox=None)) == {}
    assert (ids(engine, AlertEventRow.event_id), ids(engine, AlertOutboxRow.event_id),
            ids(engine, SilenceRow.id)) == (["ancient"], ["ancient"], ["s"])
    # the defaults: a year and a month of events (and silences), a month of finished deliveries
    deleted = apply_retention(engine, now=NOW, retention=Retention())
    assert {t: deleted.get(t) for t in ("alert_outbox", "alert_events", "silences")} == {
        "alert_outbox": 1, "alert_events": 1, "silences": 1}
