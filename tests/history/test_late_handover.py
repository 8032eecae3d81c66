"""Late results written by a process that does not run the rollups (not the leader) are handed to
the leader through the database, and the leader's run takes them: their hours are recomputed."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.housekeeping import Housekeeping
from storage import agents as agent_store
from storage.db import create_db_engine, upgrade


def test_a_follower_hands_late_results_to_the_leader(tmp_path):
    db = create_db_engine(f"sqlite:///{tmp_path / 'pm.db'}")
    upgrade(db)
    config = Config()
    follower = Housekeeping(db=db, config=lambda: config, writer=None, storage_ready=lambda: False,
                            elsewhere=lambda: True)
    old, recent = time.time() - 3 * 3600, time.time() - 1
    follower.backlog.note([{"ts": recent}])
    asyncio.run(follower._hand_over())  # recent: every rollup run recomputes it anyway
    with Session(db) as session:
        assert agent_store.take_rollup_requests(session) is None
    follower.backlog.note([{"ts": recent}, {"ts": old}])
    asyncio.run(follower._hand_over())
    leader = Housekeeping(db=db, config=lambda: config, writer=None, storage_ready=lambda: True)
    leader._take_requests()
    assert leader.backlog.take() == round(old, 3)
    with Session(db) as session:
        assert agent_store.take_rollup_requests(session) is None  # taken once
    db.dispose()
