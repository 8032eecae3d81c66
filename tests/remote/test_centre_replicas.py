"""Agents and several centre processes sharing PostgreSQL: an agent may reach any of them; the
results reach the holder of each check's shard, every process shows the same state, and when the
holder is killed the survivor takes the pushed results over, none taken twice."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from storage.agent_models import InboxRow
from storage.models import StateChangeRow
from tests.remote.wire import PROD_TOKEN, Balanced, Pusher, Wire, centre_config
from tests.scaleout.harness import Replica, wait_balanced
from tests.targets import wait_for

CHECKS = 8


def status(centre: Replica, check_id: str) -> str | None:
    body = centre.json(f"/api/v1/checks/{check_id}")
    return body["state"]["status"] if body else None


def inbox(url: str) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(InboxRow))
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
def test_results_pushed_to_any_process_reach_the_holder_and_survive_its_death(tmp_path, hook, postgres_url):
    checks = "".join(f'  - {{name: r{i}, component: registry-prod, kind: http, url: "http://127.0.0.1:9/", '
                     f"location: prod-dc}}\n" for i in range(CHECKS))
    config = centre_config(tmp_path / "centre.yaml", db=postgres_url, hook_port=hook.port, checks=checks,
                           extra="engine: {shards: 8, lease_ttl: 3s, replica_id: \"${PM_REPLICA}\"}\n")
    config.write_text(config.read_text().replace('engine: {replica_id: "${PM_REPLICA}"}\n', ""))
    a, b = Replica("a", config, tmp_path).start(), Replica("b", config, tmp_path).start()
    ids = [f"registry-prod/r{i}" for i in range(CHECKS)]
    agent = Pusher(Balanced([Wire(a, PROD_TOKEN), Wire(b, PROD_TOKEN)]), ids)  # type: ignore[arg-type]
    try:
        wait_balanced([a, b], 8)
        agent.start()
        wait_for(lambda: all(status(a, c) == status(b, c) == "up" for c in ids), timeout=15, what="all up")
        for i, cid in enumerate(ids):
            if i % 2:
                agent.statuses[cid] = ("down", "refused")
        expected = {c: "down" if i % 2 else "up" for i, c in enumerate(ids)}
        for centre in (a, b):  # each process shows every check, held or not
            wait_for(lambda centre=centre: {c: status(centre, c) for c in ids} == expected, timeout=15,
                     what=f"{centre.name} showing the pushed states")
        a.kill()
        for cid in ids:
            agent.statuses[cid] = ("up", "")
        wait_for(lambda: all(status(b, c) == "up" for c in ids), timeout=20, what="the survivor taking over")
        wait_for(lambda: not agent.buffer, timeout=10, what="the last results delivered")
        agent.stop()
        wait_for(lambda: inbox(postgres_url) == 0, timeout=10, what="the holder taking everything pushed")
    finally:
        agent.stop()
        a.kill()
        b.stop()
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(StateChangeRow.check_id, StateChangeRow.new)
                                   .order_by(StateChangeRow.check_id, StateChangeRow.ts)).all()
    finally:
        engine.dispose()
    history: dict[str, list[str]] = {}
    for cid, new in rows:
        history.setdefault(cid, []).append(new)
    for i, cid in enumerate(ids):  # each change once, whichever process took it
        assert history[cid] == (["up", "down", "up"] if i % 2 else ["up"]), (cid, history[cid])
