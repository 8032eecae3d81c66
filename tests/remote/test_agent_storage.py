"""The agents' queries on SQLite, PostgreSQL and MariaDB: a batch stored once however often it is
sent, the holder's inbox in arrival order, where a new holder carries on from, a not-reported span
removed when results fill it, and the requests to recompute rollups taken once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import agents as store
from storage.models import ResultRow, StateChangeRow

NOW = 1_796_000_000.0


def pushed(series: str, ts: float, status: str = "up", shard: int = 3) -> store.Pushed:
    check = series.partition("@")[0]
    return store.Pushed(series, check, "prod-dc", shard, round(ts * 1000), status, 0.012345, "", {"k": [1, 2]})


def contact(**fields: object) -> store.Contact:
    return store.Contact("prod-dc", "10.1.2.3", **fields)


def push(db, rows: list[store.Pushed], now: float = NOW, **fields: object) -> tuple[int, int]:
    with Session(db) as s, s.begin():
        return store.store_push(s, rows=rows, contact=contact(**fields), now=now)


def test_a_batch_is_kept_once_however_often_it_is_sent(any_db):
    rows = [pushed("svc/a", NOW - 10 + i) for i in range(3)] + [pushed("svc/b@prod-dc", NOW - 5)]
    assert push(any_db, rows, buffered=4, dropped=1, clock_offset=-0.25) == (4, 0)
    assert push(any_db, rows) == (0, 4)
    assert push(any_db, [*rows, pushed("svc/a", NOW - 1), pushed("svc/a", NOW - 1)]) == (1, 5)  # twice in one batch
    with Session(any_db) as s:
        assert s.scalar(select(func.count()).select_from(ResultRow)) == 5
        stored = s.scalars(select(ResultRow).where(ResultRow.check_id == "svc/b@prod-dc")).one()
        assert stored.details == {"k": [1, 2]} and stored.latency == 0.012345
        inbox = store.read_inbox(s, shards=[3], limit=100)
        assert [(r.series, round(r.ts.timestamp())) for r in inbox] == [
            ("svc/a", NOW - 10), ("svc/a", NOW - 9), ("svc/a", NOW - 8), ("svc/b@prod-dc", NOW - 5), ("svc/a", NOW - 1)]
        assert store.read_inbox(s, shards=[4], limit=100) == [] and store.read_inbox(s, shards=[], limit=9) == []
        (agent,) = store.contacts(s)
        assert (agent.results, agent.address, agent.buffered, agent.dropped, agent.clock_offset) == (
            5, "10.1.2.3", 4, 1, -0.25)
        assert agent.first_seen.timestamp() == NOW and agent.last_push.timestamp() == NOW


def test_a_new_holder_carries_on_from_the_last_result_taken(any_db):
    push(any_db, [pushed("svc/a", NOW - 10), pushed("svc/a", NOW - 9)])
    with Session(any_db) as s, s.begin():
        store.forget_inbox(s, seqs=[r.seq for r in store.read_inbox(s, shards=None, limit=10)])
    push(any_db, [pushed("svc/a", NOW - 8), pushed("svc/a", NOW - 7)])  # stored, not taken yet
    with Session(any_db) as s:
        taken = store.taken_until(s, series=["svc/a", "svc/none"])
    assert list(taken) == ["svc/a"] and taken["svc/a"].ts.timestamp() == NOW - 9


def test_a_span_filled_by_late_results_goes_and_tells_the_state_before_it(any_db):
    with Session(any_db) as s, s.begin():
        s.add_all([
            StateChangeRow(check_id="svc/a", ts=NOW - 100, old="unknown", new="down", reason="refused"),
            StateChangeRow(check_id="svc/a", ts=NOW - 50, old="down", new="unknown",
                           reason="agent prod-dc not reporting since …"),
            ResultRow(check_id="svc/a", ts=NOW - 50, status="unknown", latency=None, reason="agent prod-dc …"),
        ])
    with Session(any_db) as s, s.begin():
        assert store.remove_span(s, series="svc/a", at=NOW - 49, reason_prefix="agent ") is None  # not there
        before = store.remove_span(s, series="svc/a", at=NOW - 50, reason_prefix="agent ")
    assert before is not None and before[0] == "down" and before[1].timestamp() == NOW - 100 and before[2] == "refused"
    with Session(any_db) as s:
        assert s.scalar(select(func.count()).select_from(ResultRow)) == 0
        assert [c.new for c in s.scalars(select(StateChangeRow))] == ["down"]


def test_rollup_requests_are_taken_once_from_the_earliest(any_db):
    with Session(any_db) as s, s.begin():
        assert store.take_rollup_requests(s) is None
        store.request_rollups(s, earliest=NOW - 7200, now=NOW)
        store.request_rollups(s, earliest=NOW - 9000.5, now=NOW)
    with Session(any_db) as s, s.begin():
        assert store.take_rollup_requests(s) == NOW - 9000.5
    with Session(any_db) as s, s.begin():
        assert store.take_rollup_requests(s) is None


def test_discovered_checks_replace_what_the_source_sent_before(any_db):
    with Session(any_db) as s, s.begin():
        store.store_discovered(s, agent="prod-dc", source="cluster:a:nodes", checks=[{"name": "n1"}], now=NOW)
        store.store_discovered(s, agent="prod-dc", source="cluster:a:nodes", checks=[{"name": "n2"}], now=NOW + 1)
    with Session(any_db) as s:
        (row,) = store.discovered(s)
    assert row.checks == [{"name": "n2"}] and row.updated_at.timestamp() == NOW + 1
