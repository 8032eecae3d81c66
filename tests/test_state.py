"""Thresholds turn results into confirmed states; components take the worst of their checks."""

from __future__ import annotations

import pytest

from monitor.state import StateMachine
from probes.base import CheckBase, Result, Status


class FakeCheck(CheckBase):
    kind: str = "fake"


def machine(*checks: CheckBase) -> StateMachine:
    sm = StateMachine()
    sm.set_checks(checks)
    return sm


def feed(sm: StateMachine, check_id: str, statuses: str, start: float = 1000.0) -> list:
    out = []
    for i, s in enumerate(statuses.split()):
        out.extend(sm.apply(check_id, Result(Status(s), f"r{i}", time=start + i)))
    return out


def test_first_result_is_confirmed_at_once():
    sm = machine(FakeCheck(name="a", component="c"))
    transitions = feed(sm, "c/a", "down")
    assert [(t.kind, t.old, t.new) for t in transitions] == [
        ("check", Status.UNKNOWN, Status.DOWN),
        ("component", Status.UNKNOWN, Status.DOWN),
    ]
    assert sm.checks["c/a"].since == 1000.0


def test_failure_threshold_needs_consecutive_failures():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=3))
    feed(sm, "c/a", "up")
    assert feed(sm, "c/a", "down down up down down", start=2000) == []
    assert sm.checks["c/a"].status == Status.UP
    transitions = feed(sm, "c/a", "down", start=3000)
    assert [(t.old, t.new, t.at, t.reason) for t in transitions if t.kind == "check"] == [
        (Status.UP, Status.DOWN, 3000, "r0")
    ]


def test_mixed_degraded_and_down_count_towards_leaving_up():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=2))
    feed(sm, "c/a", "up")
    transitions = feed(sm, "c/a", "degraded down")
    assert sm.checks["c/a"].status == Status.DOWN
    assert transitions[0].new == Status.DOWN


def test_success_threshold_for_recovery():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=1, success_threshold=2))
    feed(sm, "c/a", "up down")
    assert sm.checks["c/a"].status == Status.DOWN
    feed(sm, "c/a", "up down up")
    assert sm.checks["c/a"].status == Status.DOWN
    feed(sm, "c/a", "up")
    assert sm.checks["c/a"].status == Status.UP


def test_flapping_within_thresholds_changes_nothing():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=2))
    feed(sm, "c/a", "up")
    assert feed(sm, "c/a", "down up down up down up") == []


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ("up up", Status.UP),
        ("up degraded", Status.DEGRADED),
        ("degraded down", Status.DOWN),
    ],
)
def test_component_is_worst_of_its_checks(states, expected):
    checks = [FakeCheck(name=f"n{i}", component="c", failure_threshold=1) for i in range(2)]
    sm = machine(*checks)
    for check, status in zip(checks, states.split(), strict=True):
        feed(sm, check.id, status)
    assert sm.components["c"].status == expected


def test_unknown_checks_do_not_hide_known_ones():
    sm = machine(FakeCheck(name="a", component="c"), FakeCheck(name="b", component="c"))
    feed(sm, "c/a", "up")
    assert sm.components["c"].status == Status.UP


def test_reload_keeps_state_and_counters_of_remaining_checks():
    a, b = FakeCheck(name="a", component="c"), FakeCheck(name="b", component="c")
    sm = machine(a, b)
    feed(sm, "c/a", "down")
    dropped = sm.set_checks([a.model_copy(update={"interval": 5.0})])
    assert dropped == ["c/b"]
    assert sm.checks["c/a"].status == Status.DOWN
    assert sm.checks["c/a"].runs["down"] == 1
    assert sm.checks["c/a"].check.interval == 5.0
    assert sm.components["c"].check_ids == ["c/a"]


def test_result_for_a_retired_check_is_ignored():
    sm = machine(FakeCheck(name="a", component="c"))
    assert sm.apply("c/gone", Result(Status.DOWN, "x", time=1)) == []


def test_restore_seeds_state_after_restart():
    sm = machine(FakeCheck(name="a", component="c"))
    sm.restore("c/a", Status.DOWN, 500.0, "was down")
    assert (sm.checks["c/a"].status, sm.checks["c/a"].since) == (Status.DOWN, 500.0)
    assert sm.components["c"].status == Status.DOWN
    assert feed(sm, "c/a", "down") == []  # the restored state is not announced again
    assert [t.new for t in feed(sm, "c/a", "up")] == [Status.UP, Status.UP]


def test_first_result_is_shown_at_once_but_confirmed_only_by_its_threshold():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=2),
                 FakeCheck(name="b", component="c", failure_threshold=1))
    feed(sm, "c/a", "down")
    feed(sm, "c/b", "up")
    a = sm.checks["c/a"]
    assert (a.status, a.confirmed) == (Status.DOWN, False)  # shown at once, not yet backed by 2 runs
    assert sm.checks["c/b"].confirmed  # success_threshold 1: one up run is enough
    feed(sm, "c/a", "down", start=2000)
    assert (a.status, a.since, a.confirmed) == (Status.DOWN, 1000.0, True)
    assert feed(sm, "c/a", "up", start=3000) and a.confirmed  # a change goes through the threshold


def test_a_first_failure_that_recovers_was_never_confirmed():
    sm = machine(FakeCheck(name="a", component="c", failure_threshold=2))
    feed(sm, "c/a", "down up")
    assert (sm.checks["c/a"].status, sm.checks["c/a"].confirmed) == (Status.UP, True)
    sm.restore("c/a", Status.DOWN, 500.0, "stored")
    assert not sm.checks["c/a"].confirmed  # a restored state is not this process's observation


def test_states_observed_elsewhere_move_the_component_once_and_make_no_check_transition():
    R = Result
    sm = machine(*(FakeCheck(name=n, component="c") for n in ("a", "b", "x")))
    transitions = sm.observe_elsewhere([
        ("c/a", Status.UP, 10.0, "ok", True, R(Status.UP, "ok", {}, 0.1, 10.0)),
        ("c/b", Status.UP, 11.0, "ok", True, None),
        ("c/x", Status.DOWN, 12.0, "refused", True, None),
    ])
    assert [(t.kind, t.subject, t.old, t.new) for t in transitions] == [("component", "c", Status.UNKNOWN, Status.DOWN)]
    assert sm.checks["c/a"].last_result.latency == 0.1 and sm.checks["c/x"].reason == "refused"
    # an older last result does not replace a newer one; an unchanged state moves nothing
    assert sm.observe_elsewhere([("c/a", Status.UP, 10.0, "ok", True, R(Status.UP, "old", {}, 0.2, 5.0))]) == []
    assert sm.checks["c/a"].last_result.reason == "ok"
    assert [t.new for t in sm.observe_elsewhere([("c/x", Status.UP, 20.0, "ok", True, None)])] == [Status.UP]
