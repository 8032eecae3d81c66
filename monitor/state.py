"""The state machine: results → confirmed check states (thresholds) → component status, and the
transitions between them. Pure: no I/O, no clock of its own (times come with the results)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from probes.base import CheckBase, Result, Status

__all__ = ["DURATION_BUCKETS", "CheckState", "ComponentState", "StateMachine", "Transition"]

DURATION_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the run-duration histogram: a probe's latency spans ms to timeouts."""


@dataclass(slots=True, frozen=True)
class Transition:
    """A change of confirmed state: of a check (`subject` = check id) or a component."""

    kind: str  # "check" | "component"
    subject: str
    at: float
    old: Status
    new: Status
    reason: str


@dataclass(slots=True)
class CheckState:
    check: CheckBase
    status: Status = Status.UNKNOWN
    since: float | None = None
    reason: str = ""
    last_result: Result | None = None
    streak_status: Status | None = None
    streak: int = 0
    bad_streak: int = 0
    confirmed: bool = False
    """Whether the current status has met its threshold. A first result is shown at once (nothing
    to protect yet) but stays unconfirmed until as many runs agree as a change would need:
    alerting acts on confirmed states only."""
    runs: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0

    def observe(self, result: Result) -> None:
        self.runs[result.status.value] += 1
        latency = result.latency or 0.0
        self.buckets[bisect.bisect_left(DURATION_BUCKETS, latency)] += 1
        self.duration_sum += latency


@dataclass(slots=True)
class ComponentState:
    name: str
    status: Status = Status.UNKNOWN
    since: float | None = None
    check_ids: list[str] = field(default_factory=list)


def worst(statuses: Iterable[Status]) -> Status:
    """A component's status: the worst known status of its checks; unknown only when none is
    known (a check that has not run yet does not hide its siblings' state)."""
    known = [s for s in statuses if s != Status.UNKNOWN]
    if not known:
        return Status.UNKNOWN
    return max(known, key=lambda s: s.severity)


class StateMachine:
    """Holds every check's and component's current state. `apply` takes one result and returns
    the transitions it caused, in order (check first, then its component)."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckState] = {}
        self.components: dict[str, ComponentState] = {}

    def set_checks(self, checks: Iterable[CheckBase]) -> list[str]:
        """Make the tracked checks exactly `checks`, keeping the state of those that stay (a
        reload keeps history and counters). Returns the ids that were dropped."""
        wanted = {check.id: check for check in checks}
        dropped = [cid for cid in self.checks if cid not in wanted]
        for cid in dropped:
            del self.checks[cid]
        for cid, check in wanted.items():
            state = self.checks.get(cid)
            if state is None:
                self.checks[cid] = CheckState(check)
            else:
                state.check = check
        self._rebuild_components()
        return dropped

    def restore(self, check_id: str, status: Status, since: float, reason: str, *,
                recent: list[Status] | None = None) -> None:
        """Seed a check's confirmed state from storage after a restart or a takeover. `recent`: the
        statuses of its last stored results, newest first, from which the threshold counters are
        rebuilt (a takeover carries on counting where the previous holder stopped)."""
        self.restore_many([(check_id, status, since, reason, recent)])

    def restore_many(self, items: Iterable[tuple[str, Status, float, str, list[Status] | None]]) -> None:
        """`restore` for many checks, the components derived once."""
        for check_id, status, since, reason, recent in items:
            self._restore_one(check_id, status, since, reason, recent)
        self._rebuild_components(keep_since=False)

    def _restore_one(self, check_id: str, status: Status, since: float, reason: str,
                     recent: list[Status] | None) -> None:
        state = self.checks.get(check_id)
        if state is not None:
            state.status, state.since, state.reason = status, since, reason
            state.last_result = None  # alerting waits for this process's first run of it
            state.streak_status, state.streak, state.bad_streak = None, 0, 0
            if recent:
                state.streak_status = recent[0]
                state.streak = next((i for i, s in enumerate(recent) if s != recent[0]), len(recent))
                state.bad_streak = next((i for i, s in enumerate(recent) if s == Status.UP), len(recent))
            # confirmed only when the stored runs back the stored state as firmly as a change would need
            state.confirmed = state.streak_status == status and self._met(state, status)

    def observe_elsewhere(self, items: Iterable[tuple[str, Status, float, str, bool, Result | None]],
                          ) -> list[Transition]:
        """Take the states of checks another process holds, as that process stored them: (check id,
        status, since, reason, confirmed, last result or None). No check transition comes of it (its
        holder recorded those); each component touched is derived once, and its change returned
        (the leader records component history)."""
        touched: dict[str, tuple[float, str]] = {}
        for check_id, status, since, reason, confirmed, last_result in items:
            state = self.checks.get(check_id)
            if state is None:
                continue
            changed = state.status != status
            state.status, state.since, state.reason, state.confirmed = status, since, reason, confirmed
            if last_result is not None and (state.last_result is None or last_result.time >= state.last_result.time):
                state.last_result = last_result
            if changed:
                touched[state.check.component] = (since, f"{check_id}: {reason}")
        out = []
        for name, (since, reason) in touched.items():
            comp = self.components[name]
            comp_status = worst(self.checks[c].status for c in comp.check_ids)
            if comp_status != comp.status:
                out.append(Transition("component", name, since, comp.status, comp_status, reason))
                comp.status, comp.since = comp_status, since
        return out

    def unobserved(self, check_id: str, at: float, reason: str) -> list[Transition]:
        """Nobody can observe the check from `at` on (the agent that runs it stopped reporting): its
        state becomes `unknown` at once, whatever its thresholds (there is no result to count),
        and its counters start again. Returns the transitions (check, then its component)."""
        state = self.checks.get(check_id)
        if state is None:
            return []
        state.streak_status, state.streak, state.bad_streak = None, 0, 0
        if state.status == Status.UNKNOWN:
            state.reason = reason
            return []
        out = [Transition("check", check_id, at, state.status, Status.UNKNOWN, reason)]
        state.status, state.since, state.reason, state.confirmed = Status.UNKNOWN, at, reason, True
        comp = self.components[state.check.component]
        comp_status = worst(self.checks[c].status for c in comp.check_ids)
        if comp_status != comp.status:
            out.append(Transition("component", comp.name, at, comp.status, comp_status, f"{check_id}: {reason}"))
            comp.status, comp.since = comp_status, at
        return out

    def _rebuild_components(self, keep_since: bool = True) -> None:
        members: dict[str, list[str]] = {}
        for cid, state in self.checks.items():
            members.setdefault(state.check.component, []).append(cid)
        old = self.components
        self.components = {}
        for name, ids in members.items():
            comp = old.get(name) or ComponentState(name)
            comp.check_ids = ids
            status = worst(self.checks[c].status for c in ids)
            if not keep_since or comp.status != status:
                known = [self.checks[c].since for c in ids if self.checks[c].since is not None]
                comp.since = max(known) if known else None
            comp.status = status
            self.components[name] = comp

    def apply(self, check_id: str, result: Result) -> list[Transition]:
        state = self.checks.get(check_id)
        if state is None:  # retired while the run was in flight
            return []
        state.observe(result)
        state.last_result = result
        if result.status == state.streak_status:
            state.streak += 1
        else:
            state.streak_status, state.streak = result.status, 1
        state.bad_streak = 0 if result.status == Status.UP else state.bad_streak + 1
        new = self._confirmed(state, result.status)
        if new is None or new == state.status:
            if new == state.status and result.status == state.status:
                state.reason = result.reason
                state.confirmed = state.confirmed or self._met(state, result.status)
            return []
        transition = Transition("check", check_id, result.time, state.status, new, result.reason)
        state.confirmed = state.status != Status.UNKNOWN or self._met(state, new)
        state.status, state.since, state.reason = new, result.time, result.reason
        out = [transition]
        comp = self.components[state.check.component]
        comp_status = worst(self.checks[c].status for c in comp.check_ids)
        if comp_status != comp.status:
            out.append(
                Transition(
                    "component",
                    comp.name,
                    result.time,
                    comp.status,
                    comp_status,
                    f"{check_id}: {result.reason}",
                )
            )
            comp.status, comp.since = comp_status, result.time
        return out

    @staticmethod
    def _met(state: CheckState, observed: Status) -> bool:
        """Whether the runs so far back `observed` as firmly as a change to it would need: the
        success threshold for up, the failure threshold (any mix of degraded and down) otherwise."""
        if observed == Status.UP:
            return state.streak >= state.check.success_threshold
        if observed == Status.UNKNOWN:
            return True
        return state.bad_streak >= state.check.failure_threshold

    @staticmethod
    def _confirmed(state: CheckState, observed: Status) -> Status | None:
        """The state `observed` confirms, or None while a threshold is not met yet."""
        if state.status == Status.UNKNOWN or observed == state.status:
            return observed  # nothing to protect yet: show the first result at once
        if observed == Status.UP:
            met = state.streak >= state.check.success_threshold
        elif state.status == Status.UP:
            # any mix of degraded and down results counts towards leaving up
            met = state.bad_streak >= state.check.failure_threshold
        else:
            met = state.streak >= state.check.failure_threshold
        return observed if met else None
