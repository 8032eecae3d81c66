"""Runs counted before the rollup job has seen them (issue 14, item 8: uptime said `runs: 0` for a
new check's first minutes): the uptime figures add the raw results stamped after the rollups'
watermark to the rollups, and count none twice."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage import history, rollups
from tests.history import scenario
from tests.history.scenario import H, at, ts


def runs(engine, *, by: str, until: float) -> dict[str, int]:
    with Session(engine) as s:
        found = history.uptime(s, start=at(0), end=at(until), now=at(until), by=by)
    return {e.id: e.runs for e in found.entries}


def test_results_before_the_first_rollup_are_counted(engine):
    scenario.seed(engine, results_until=5 * 60)  # five minutes of web/a, once a minute; no rollup yet
    assert runs(engine, by="check", until=10 * 60)["web/a"] == 5
    assert runs(engine, by="component", until=10 * 60)["web"] == 5


def test_rolled_up_and_newer_results_add_up_once(engine):
    writer = scenario.seed(engine, results_until=3 * H)
    rollups.update(engine, now=ts(3 * H))  # the watermark at +3:00, the 3:00 hour partly rolled
    scenario.write_results(writer, 3 * H, 3 * H + 10 * 60)  # ten newer runs, not rolled up
    writer.flush()
    assert runs(engine, by="check", until=3 * H + 11 * 60)["web/a"] == 3 * 60 + 10
    assert runs(engine, by="component", until=3 * H + 11 * 60)["web"] == 3 * 60 + 10
    rollups.update(engine, now=ts(3 * H + 11 * 60))  # now rolled up: the same figure, not twice
    assert runs(engine, by="check", until=3 * H + 11 * 60)["web/a"] == 3 * 60 + 10


def test_a_window_ending_at_the_watermark_reads_its_last_day_whole_and_counts_the_same(engine):
    """The last day's daily rollup (one row per subject) stands for its hours once no hour after
    the window's end is rolled up: the same runs as adding the hours."""
    scenario.seed(engine, results_until=12 * H)
    rollups.update(engine, now=ts(12 * H))
    with Session(engine) as s:
        for by, subject in (("check", "web/a"), ("component", "web")):
            found = history.uptime(s, start=at(-25 * H), end=at(12.5 * H), now=at(12.5 * H), by=by)
            assert {e.id: e.runs for e in found.entries}[subject] == 12 * 60
            earlier = history.uptime(s, start=at(-25 * H), end=at(6.5 * H), now=at(12.5 * H), by=by)
            assert {e.id: e.runs for e in earlier.entries}[subject] == 7 * 60  # hours 0-6: the hours, not the day
