"""Alerting's sync with the database (several processes): an alert taken over is carried on from
what its previous holder stored, but one this process resolved a moment ago is not brought back
from a database its write has not reached yet (that would send the resolution twice)."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.orm import Session

from monitor.alerts.alerting import Alerting
from monitor.config import parse_config
from monitor.state import StateMachine
from storage import alert_queries


class QueuedTasks:
    """The writer's queue, never run: the database stays as it was (a write still queued)."""

    def __init__(self) -> None:
        self.tasks: list = []

    def put_task(self, task) -> None:
        self.tasks.append(task)


def firing(key: str, now: float) -> dict:
    return {"key": key, "status": "firing", "episode_start": now - 60, "seq": 1, "notified": True,
            "fired_at": now - 60, "last_notified_at": now - 60, "resolved_at": None, "acknowledged_by": None,
            "suppressed_by": None, "payload": {}, "updated_at": now - 60}


def test_a_taken_over_alert_is_adopted_and_one_resolved_here_is_not_brought_back(any_db):
    config = parse_config("checks: []\n")
    alerting = Alerting(config=lambda: config, state=StateMachine(), tasks=QueuedTasks(), db=any_db)
    now = time.time()
    with Session(any_db) as s, s.begin():
        alert_queries.save_alerts(s, states=[firing("check:a/taken", now), firing("check:a/resolved", now)],
                                  events=[], outbox=[])
    alerting._decided.add("check:a/resolved")  # this process resolved it; the write is still queued

    asyncio.run(alerting._sync())

    assert set(alerting.records) == {"check:a/taken"}
    assert alerting.records["check:a/taken"].status == "firing"
