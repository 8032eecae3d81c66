"""The alert machine alone (pure: no I/O, no mocks): firing, reminders, resolution, silences,
dependencies, group wait, and the stable event ids a restart relies on."""

from __future__ import annotations

from dataclasses import replace

from monitor.alerts.machine import AlertRecord, Policy, Subject, evaluate, event_id
from monitor.alerts.silences import Silence, Silences
from probes.base import Status

POLICY = Policy(repeat_interval=3600.0, group_wait=30.0)
T0 = 1_700_000_000.0


def subject(cid: str, status: Status, since: float = T0, parents: tuple[str, ...] = (), **labels: str) -> Subject:
    component = cid.split("/")[0]
    return Subject(f"check:{cid}", "check", cid, status, since, f"{cid} is {status}", Status.UP,
                   {"check": cid, "component": component, "kind": "http", "severity": "critical", **labels},
                   "critical", tuple(f"check:{p}" for p in parents))


class World:
    """Applies the machine's decisions like the service does, keeping only active records."""

    def __init__(self, policy: Policy = POLICY, silencers=()) -> None:
        self.policy, self.silencers = policy, list(silencers)
        self.records: dict[str, AlertRecord] = {}
        self.events = []

    def step(self, now: float, *subjects: Subject):
        decisions = evaluate({s.key: s for s in subjects}, self.records, now=now, policy=self.policy,
                             silencers=self.silencers)
        for d in decisions:
            if d.record.active:
                self.records[d.record.key] = d.record
            else:
                self.records.pop(d.record.key, None)
        new = [d.event for d in decisions if d.event is not None]
        self.events.extend(new)
        return new

    def notified(self):
        return [(e.key, e.type) for e in self.events if e.suppressed_by is None]


def test_down_fires_once_reminds_and_resolves():
    w = World()
    down = subject("paas/web", Status.DOWN)
    [fired] = w.step(T0 + 1, down)
    assert (fired.type, fired.suppressed_by, fired.record.status) == ("firing", None, "firing")
    assert w.step(T0 + 2, down) == [] and w.step(T0 + 3599, down) == []
    [reminder] = w.step(T0 + 3601, down)
    assert reminder.type == "reminder" and reminder.event_id != fired.event_id
    [resolved] = w.step(T0 + 4000, subject("paas/web", Status.UP, since=T0 + 4000))
    assert resolved.type == "resolved" and resolved.suppressed_by is None
    assert w.records == {}
    assert w.notified() == [("check:paas/web", "firing"), ("check:paas/web", "reminder"),
                            ("check:paas/web", "resolved")]


def test_unknown_neither_fires_nor_resolves_and_degraded_only_when_asked():
    w = World()
    assert w.step(T0, subject("a/x", Status.DEGRADED)) == []
    w.step(T0, subject("a/x", Status.DOWN))
    assert w.step(T0 + 5, subject("a/x", Status.UNKNOWN)) == []
    assert w.records["check:a/x"].status == "firing"
    strict = World(Policy(on_degraded=True))
    [fired] = strict.step(T0, subject("a/x", Status.DEGRADED))
    assert fired.type == "firing"


def test_acknowledged_alert_gets_no_reminders_but_resolves():
    w = World()
    down = subject("a/x", Status.DOWN)
    w.step(T0, down)
    w.records["check:a/x"] = replace(w.records["check:a/x"], acknowledged_by="ops")
    assert w.step(T0 + 10_000, down) == []
    [resolved] = w.step(T0 + 10_001, subject("a/x", Status.UP))
    assert resolved.type == "resolved"


def test_silenced_alert_is_recorded_not_notified_and_fires_when_the_silence_ends():
    silences = Silences()
    silences.set_api([Silence("s1", {"component": "paas"}, T0, T0 + 100, "upgrade", "alice")])
    w = World(silencers=[silences])
    down = subject("paas/web", Status.DOWN)
    [event] = w.step(T0 + 1, down)
    assert event.type == "firing" and "s1" in event.suppressed_by and "upgrade" in event.suppressed_by
    assert w.records["check:paas/web"].status == "silenced"
    assert w.step(T0 + 50, down) == []
    [fired] = w.step(T0 + 101, down)  # the silence is over and it is still down
    assert fired.type == "firing" and fired.suppressed_by is None
    assert w.records["check:paas/web"].status == "firing"
    # another component is not matched by the silence
    other = World(silencers=[silences])
    [e] = other.step(T0 + 1, subject("dns/a", Status.DOWN))
    assert e.suppressed_by is None


def test_silenced_and_recovered_alert_resolves_quietly_but_a_notified_one_is_closed_under_silence():
    silences = Silences()
    silences.set_api([Silence("s1", {"check": "a/x"}, T0, T0 + 1000)])
    w = World(silencers=[silences])
    w.step(T0 + 1, subject("a/x", Status.DOWN))
    [quiet] = w.step(T0 + 2, subject("a/x", Status.UP))
    assert quiet.type == "resolved" and quiet.suppressed_by  # recorded, not sent
    w2 = World(Policy(repeat_interval=60.0), silencers=[silences])
    w2.step(T0 - 10, subject("a/x", Status.DOWN))  # fired before the silence began
    assert w2.step(T0 + 500, subject("a/x", Status.DOWN)) == []  # a reminder is due, but silenced
    assert w2.records["check:a/x"].suppressed_by == "silence s1"
    [closing] = w2.step(T0 + 501, subject("a/x", Status.UP))
    assert closing.type == "resolved" and closing.suppressed_by is None


def test_children_of_a_down_parent_are_covered_and_counted():
    w = World()
    api = subject("k8s/apiserver", Status.DOWN)
    nodes = [subject(f"k8s/node-{i}", Status.DOWN, parents=("k8s/apiserver",)) for i in range(3)]
    events = w.step(T0 + 1, api, *nodes)
    by_key = {e.key: e for e in events}
    assert by_key["check:k8s/apiserver"].suppressed_by is None
    assert len(by_key["check:k8s/apiserver"].covers) == 3
    for i in range(3):
        e = by_key[f"check:k8s/node-{i}"]
        assert e.suppressed_by == "covered by check:k8s/apiserver"
    assert w.notified() == [("check:k8s/apiserver", "firing")]
    # the parent recovers, one node stays down: that node now fires on its own
    events = w.step(T0 + 100, subject("k8s/apiserver", Status.UP), nodes[0],
                    subject("k8s/node-1", Status.UP), subject("k8s/node-2", Status.UP))
    notified = sorted((e.key, e.type) for e in events if e.suppressed_by is None)
    assert notified == [("check:k8s/apiserver", "resolved"), ("check:k8s/node-0", "firing")]


def test_a_child_waits_for_its_parent_then_is_covered():
    w = World()
    child = subject("k8s/node-1", Status.DOWN, since=T0, parents=("k8s/apiserver",))
    parent_up = subject("k8s/apiserver", Status.UP)
    assert w.step(T0 + 5, child, parent_up) == []  # group wait: the parent may follow
    events = w.step(T0 + 10, child, subject("k8s/apiserver", Status.DOWN, since=T0 + 9))
    assert {e.key: e.suppressed_by for e in events} == {
        "check:k8s/apiserver": None, "check:k8s/node-1": "covered by check:k8s/apiserver"}
    assert [k for k, t in w.notified()] == ["check:k8s/apiserver"]
    # alone (the parent stays up), the child fires once the wait is over
    alone = World()
    assert alone.step(T0 + 29, child, parent_up) == []
    [fired] = alone.step(T0 + 31, child, parent_up)
    assert fired.key == "check:k8s/node-1" and fired.suppressed_by is None


def test_grandchildren_are_covered_by_the_topmost_down_ancestor():
    w = World()
    subjects = [subject("c/api", Status.DOWN), subject("c/etcd", Status.DOWN, parents=("c/api",)),
                subject("c/member", Status.DOWN, parents=("c/etcd",))]
    events = {e.key: e for e in w.step(T0 + 100, *subjects)}
    assert events["check:c/member"].suppressed_by == "covered by check:c/api"
    assert set(events["check:c/api"].covers) == {"check:c/etcd", "check:c/member"}


def test_event_ids_are_stable_for_the_same_decision():
    first, second = World(), World()
    down = subject("a/x", Status.DOWN)
    [a] = first.step(T0 + 1, down)
    [b] = second.step(T0 + 7, down)  # decided again later (a restart before it was stored)
    assert a.event_id == b.event_id == event_id("check:a/x", T0, 1, "firing")
    assert first.step(T0 + 3, down) == []


def test_a_restored_firing_record_does_not_fire_again_and_a_gone_subject_is_resolved():
    w = World()
    w.records["check:a/x"] = AlertRecord("check:a/x", "firing", T0, 1, True, T0, T0)
    assert w.step(T0 + 60, subject("a/x", Status.DOWN, since=T0 + 55)) == []
    [resolved] = w.step(T0 + 61)  # the check is no longer configured
    assert resolved.type == "resolved" and resolved.key == "check:a/x"


def test_an_unconfirmed_bad_state_starts_no_alert():
    w = World()
    first = replace(subject("a/x", Status.DOWN), confirmed=False)
    assert w.step(T0, first) == [] and w.records == {}
    [fired] = w.step(T0 + 30, subject("a/x", Status.DOWN))
    assert fired.type == "firing" and fired.record.episode_start == T0


def test_alerts_honour_the_failure_threshold_from_the_first_run():
    """The state machine shows a check's first result at once; alerting still waits for
    `failure_threshold` failed runs, counted from the first run (issue 14, item 9)."""
    from monitor.state import StateMachine
    from probes.base import CheckBase, Result

    class Fake(CheckBase):
        kind: str = "fake"

    def subjects(sm: StateMachine) -> list[Subject]:
        out = []
        for cid, st in sm.checks.items():
            out.append(replace(subject(cid, st.status, since=st.since), reason=st.reason, confirmed=st.confirmed))
        return out

    for threshold in (1, 2, 3):
        sm = StateMachine()
        sm.set_checks([Fake(name="x", component="a", failure_threshold=threshold)])
        w = World()
        for run in range(1, 5):
            sm.apply("a/x", Result(Status.DOWN, "HTTP 503", time=T0 + run))
            assert sm.checks["a/x"].status == Status.DOWN  # shown at once, whatever the threshold
            w.step(T0 + run, *subjects(sm))
            expected = [("check:a/x", "firing")] if run >= threshold else []
            assert w.notified() == expected, (threshold, run)
    # a first failure followed by a success never alerts
    sm = StateMachine()
    sm.set_checks([Fake(name="x", component="a", failure_threshold=2)])
    w = World()
    for run, status in enumerate((Status.DOWN, Status.UP, Status.DOWN, Status.UP), start=1):
        sm.apply("a/x", Result(status, "r", time=T0 + run))
        w.step(T0 + run, *subjects(sm))
    assert w.events == []
