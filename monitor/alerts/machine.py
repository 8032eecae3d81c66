"""The alert state machine: from the subjects' confirmed states, the alert records, the silencers
and the dependencies, decide what fires, reminds, resolves or stays quiet. Pure: no I/O, no clock
(`now` is given), no routing; the caller persists and delivers what it returns."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from probes.base import Status

__all__ = [
    "AlertEvent",
    "AlertRecord",
    "Decision",
    "Policy",
    "Silencer",
    "Subject",
    "evaluate",
    "event_id",
]

Silencer = Callable[[Mapping[str, str], float], "str | None"]
"""`(labels, at) -> reason | None`: why an alert with these labels is silenced at `at`, if it is."""

FIRING, SILENCED, COVERED, RESOLVED = "firing", "silenced", "covered", "resolved"
COVERS_LISTED = 20  # covered subjects named in a parent's event; the count is always complete


@dataclass(frozen=True, slots=True)
class Policy:
    on_degraded: bool = False
    repeat_interval: float = 4 * 3600.0  # seconds between reminders; 0 = never
    group_wait: float = 30.0  # seconds a subject with parents waits for them to be confirmed down


@dataclass(frozen=True, slots=True)
class Subject:
    """One check or component as alerting sees it now."""

    key: str  # "check:<id>" | "component:<name>"
    kind: str  # "check" | "component"
    id: str
    status: Status
    since: float | None
    reason: str
    previous: Status = Status.UNKNOWN  # the state before the current one
    labels: Mapping[str, str] = field(default_factory=dict)
    severity: str = "critical"
    parents: tuple[str, ...] = ()  # alert keys this one depends on
    confirmed: bool = True
    """The status met its failure threshold. False for a first result shown at once (the state
    machine's `CheckState.confirmed`): no alert starts until the threshold's runs agree."""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """What was decided for one alert key in its current (or last) episode."""

    key: str
    status: str  # firing | silenced | covered | resolved
    episode_start: float
    seq: int = 0  # events so far in this episode: part of each event's id
    notified: bool = False  # a firing notification went out in this episode
    fired_at: float | None = None
    last_notified_at: float | None = None
    resolved_at: float | None = None
    acknowledged_by: str | None = None
    suppressed_by: str | None = None
    payload: Mapping = field(default_factory=dict)  # the last event's payload

    @property
    def active(self) -> bool:
        return self.status != RESOLVED


@dataclass(frozen=True, slots=True)
class AlertEvent:
    event_id: str
    key: str
    type: str  # firing | reminder | resolved
    at: float
    subject: Subject
    record: AlertRecord  # the record after this event
    covers: tuple[str, ...] = ()  # keys of the subjects this alert covers (parent down)
    suppressed_by: str | None = None  # None: to be notified


@dataclass(frozen=True, slots=True)
class Decision:
    record: AlertRecord
    event: AlertEvent | None = None


def event_id(key: str, episode_start: float, seq: int, type_: str) -> str:
    """Stable id of an event: the same event decided again (after a crash before it was stored)
    gets the same id, so receivers can drop a repeat by it."""
    raw = f"{key}|{round(episode_start * 1000)}|{seq}|{type_}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def _bad(status: Status, policy: Policy) -> bool:
    return status == Status.DOWN or (policy.on_degraded and status == Status.DEGRADED)


def coverage(subjects: Mapping[str, Subject]) -> dict[str, str]:
    """Covered subject key → the key of the top-most down ancestor whose alert covers it. A
    subject is covered while one of its parents is down (whatever that parent's own alert is).
    Parents are checks; a component's parents are those of its checks outside it."""
    roots: dict[str, str | None] = {}

    def root_of(key: str, trail: frozenset[str]) -> str | None:
        if key in roots:
            return roots[key]
        subject = subjects.get(key)
        found = None
        if subject is not None:
            for parent_key in subject.parents:
                parent = subjects.get(parent_key)
                if parent is None or parent.status != Status.DOWN or parent_key in trail:
                    continue
                found = root_of(parent_key, trail | {key}) or parent_key
                break
        roots[key] = found
        return found

    out = {}
    for key, subject in subjects.items():
        if subject.status != Status.UNKNOWN and (root := root_of(key, frozenset())) is not None:
            out[key] = root
    return out


def _silenced(subject: Subject, silencers: Iterable[Silencer], now: float) -> str | None:
    for silencer in silencers:
        reason = silencer(subject.labels, now)
        if reason:
            return reason
    return None


def _event(record: AlertRecord, type_: str, subject: Subject, now: float, covers: tuple[str, ...],
           suppressed_by: str | None) -> Decision:
    seq = record.seq + 1
    record = replace(record, seq=seq)
    eid = event_id(record.key, record.episode_start, seq, type_)
    return Decision(record, AlertEvent(eid, record.key, type_, now, subject, record, covers, suppressed_by))


def _decide_bad(subject: Subject, record: AlertRecord | None, *, now: float, policy: Policy,
                covered_by: str | None, silence: str | None, covers: tuple[str, ...]) -> Decision | None:
    if record is None or not record.active:
        if not subject.confirmed:
            return None  # one failed run of a check whose first result this was: not yet an alert
        record = AlertRecord(subject.key, COVERED, subject.since if subject.since is not None else now)
        if covered_by is not None:
            return _event(replace(record, suppressed_by=f"covered by {covered_by}"), FIRING, subject, now,
                          covers, f"covered by {covered_by}")
        waiting = subject.parents and subject.since is not None and now < subject.since + policy.group_wait
        if waiting:
            return None  # a parent may be confirmed down in a moment: then this alert is covered
        if silence is not None:
            return _event(replace(record, status=SILENCED, suppressed_by=silence), FIRING, subject, now,
                          covers, silence)
        fired = replace(record, status=FIRING, notified=True, fired_at=now, last_notified_at=now)
        return _event(fired, FIRING, subject, now, covers, None)
    if not record.notified:
        # covered or silenced so far: it fires once neither holds (and it has waited enough)
        if covered_by is not None:
            reason = f"covered by {covered_by}"
            changed = record.status != COVERED or record.suppressed_by != reason
            return Decision(replace(record, status=COVERED, suppressed_by=reason)) if changed else None
        if silence is not None:
            changed = record.status != SILENCED or record.suppressed_by != silence
            return Decision(replace(record, status=SILENCED, suppressed_by=silence)) if changed else None
        fired = replace(record, status=FIRING, notified=True, fired_at=now, last_notified_at=now,
                        suppressed_by=None)
        return _event(fired, FIRING, subject, now, covers, None)
    # firing and notified: remind while it lasts, unless silenced or acknowledged
    if record.suppressed_by != silence:
        record = replace(record, suppressed_by=silence)
        changed: Decision | None = Decision(record)
    else:
        changed = None
    due = record.last_notified_at is not None and now - record.last_notified_at >= policy.repeat_interval
    if policy.repeat_interval > 0 and due and silence is None and record.acknowledged_by is None:
        return _event(replace(record, last_notified_at=now), "reminder", subject, now, covers, None)
    return changed


def _decide_good(subject: Subject, record: AlertRecord | None, *, now: float) -> Decision | None:
    if record is None or not record.active or subject.status == Status.UNKNOWN:
        return None  # unknown: cannot judge the target, so neither fire nor resolve
    resolved = replace(record, status=RESOLVED, resolved_at=now)
    # a resolution closes what receivers were told, even under a silence; one never told stays quiet
    suppressed = None if record.notified else (record.suppressed_by or "not notified as firing")
    return _event(resolved, RESOLVED, subject, now, (), suppressed)


def evaluate(
    subjects: Mapping[str, Subject],
    records: Mapping[str, AlertRecord],
    *,
    now: float,
    policy: Policy,
    silencers: Iterable[Silencer] = (),
) -> list[Decision]:
    """Decide for every subject given (and every active record whose subject is gone: resolved).
    Returns only what changed: new records, each with the event it causes (if any)."""
    silencers = list(silencers)
    covered = coverage(subjects)
    covers_of: dict[str, list[str]] = {}
    for child, root in covered.items():
        if _bad(subjects[child].status, policy):
            covers_of.setdefault(root, []).append(child)
    out: list[Decision] = []
    for key, subject in subjects.items():
        record = records.get(key)
        if _bad(subject.status, policy):
            covers = tuple(sorted(covers_of.get(key, ())))
            decision = _decide_bad(subject, record, now=now, policy=policy, covered_by=covered.get(key),
                                   silence=_silenced(subject, silencers, now), covers=covers)
        else:
            decision = _decide_good(subject, record, now=now)
        if decision is not None:
            out.append(decision)
    for key, record in records.items():
        if record.active and key not in subjects:  # retired check or component: close its alert
            gone = Subject(key, key.split(":", 1)[0], key.split(":", 1)[1], Status.UP, now, "no longer monitored")
            decision = _decide_good(gone, record, now=now)
            if decision is not None:
                out.append(decision)
    return out
