"""The pure rules of locations, without servers or mocks: the quorum verdict, a check that goes
unobserved, the agent check's judgement, the config's locations and the agents' checks."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config
from monitor.remote.quorum import Seen, location_of, series_id, verdict
from monitor.state import StateMachine
from probes import agent, http
from probes.base import Result, Status

NOW = 1_796_000_000.0
AGENTS = """agents:
  - {name: prod-dc, token: "prod-dc-token-0123456789"}
  - {name: test-dc, token_sha256: "9f2c6e1b1f0e4cbb8f2f7e3c4d5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6"}
"""


def check(**settings: object) -> http.Check:
    return http.Check(name="api", component="paas", url="http://127.0.0.1:9/", interval=10, timeout=2,
                      **settings)


def seen(status: str, age: float = 1.0, reason: str = "") -> Seen:
    return Seen(Status(status), NOW - age, reason)


@pytest.mark.parametrize(("statuses", "expected"), [
    ({"central": "up", "prod-dc": "up", "test-dc": "up"}, ("up", "up from central, prod-dc, test-dc")),
    ({"central": "up", "prod-dc": "down", "test-dc": "up"},
     ("degraded", "down from 1 of 3 locations (quorum 2): prod-dc: refused")),
    ({"central": "up", "prod-dc": "down", "test-dc": "down"},
     ("down", "down from 2 of 3 locations (quorum 2): prod-dc: refused; test-dc: refused")),
    ({"central": "degraded", "prod-dc": "up", "test-dc": "up"}, ("degraded", "degraded from central: refused")),
    ({"central": "down", "prod-dc": "unknown"},
     ("unknown", "only 1 of 3 locations report (quorum 2): prod-dc: unknown (refused); test-dc: no result yet")),
])
def test_quorum_verdict(statuses, expected):
    c = check(locations=["central", "prod-dc", "test-dc"], quorum=2)
    got = verdict(c, {loc: seen(s, reason="" if s == "up" else "refused") for loc, s in statuses.items()}, NOW)
    assert (got[0].value, got[1]) == expected


def test_a_stale_location_does_not_count_and_a_silent_agent_is_named():
    c = check(locations=["central", "prod-dc"])  # default quorum: a majority, 2 of 2
    assert c.needed == 2
    stale = {"central": seen("down"), "prod-dc": seen("down", age=2 * 10 + 2 + 0.1)}
    status, reason = verdict(c, stale, NOW, {"prod-dc": "agent prod-dc not reporting since 2026-12-03T10:00:00Z"})
    assert status == Status.UNKNOWN
    assert reason == ("only 1 of 2 locations report (quorum 2): "
                      "prod-dc: agent prod-dc not reporting since 2026-12-03T10:00:00Z")
    fresh = {"central": seen("down"), "prod-dc": seen("down", age=2 * 10 + 2)}
    assert verdict(c, fresh, NOW)[0] == Status.DOWN


def test_series_ids_name_their_location():
    c = check(locations=["central", "prod-dc"])
    assert series_id(c.id, "prod-dc") == "paas/api@prod-dc"
    assert location_of("paas/api@prod-dc", c) == "prod-dc"
    assert location_of("paas/api@elsewhere", c) is None and location_of("paas/other@prod-dc", c) is None


def test_an_unobserved_check_is_unknown_at_once_and_counts_afresh():
    machine = StateMachine()
    c = check(location="prod-dc", failure_threshold=3)
    machine.set_checks([c])
    machine.apply(c.id, Result(Status.UP, "", {}, 0.1, NOW))
    transitions = machine.unobserved(c.id, NOW + 25, "agent prod-dc not reporting since …")
    assert [(t.kind, t.old, t.new, t.at) for t in transitions] == [
        ("check", Status.UP, Status.UNKNOWN, NOW + 25), ("component", Status.UP, Status.UNKNOWN, NOW + 25)]
    assert machine.unobserved(c.id, NOW + 30, "again") == []  # unknown already: nothing changes
    assert machine.checks[c.id].reason == "again"
    machine.apply(c.id, Result(Status.DOWN, "refused", {}, 0.1, NOW + 31))  # from unknown: shown at once
    assert machine.checks[c.id].status == Status.DOWN and not machine.checks[c.id].confirmed


def test_the_agent_check_judges_the_last_contact():
    cfg = agent.Check(name="prod-dc", component="agents", agent="prod-dc", silent_after=20, max_clock_skew=5,
                      buffer=1000)
    assert agent.judge(cfg, None, NOW).reason == "agent prod-dc has never reported"
    contact = agent.Contact(NOW - 21, "10.0.0.5", 0.2, 3, 0, "0.1.0", "abc")
    down = agent.judge(cfg, contact, NOW)
    assert (down.status, down.reason) == (Status.DOWN, "agent prod-dc not reporting since 2026-11-30T00:52:59Z "
                                                       "(last from 10.0.0.5)")
    up = agent.judge(cfg, agent.Contact(NOW - 1, "10.0.0.5", 0.2, 3, 0), NOW)
    assert (up.status, up.reason) == (Status.UP, "3 results waiting to be sent")
    skewed = agent.judge(cfg, agent.Contact(NOW - 1, clock_offset=-12.34, buffered=990, dropped=7), NOW)
    assert skewed.status == Status.DEGRADED
    assert skewed.reason == ("agent prod-dc: its clock is off by 12.3s (more than 5s); "
                             "its buffer is full: 990 results waiting, 7 dropped")


def test_locations_must_name_an_agent_and_each_agent_gets_a_check():
    config = parse_config(AGENTS + """checks:
  - {name: reg, component: registry, kind: tcp, host: 127.0.0.1, port: 5000, location: prod-dc, interval: 4s,
     timeout: 1s}
  - {name: api, component: paas, kind: tcp, host: 127.0.0.1, port: 80, locations: [central, test-dc], quorum: 1}
""")
    checks = config.check_by_id()
    assert checks["registry/reg"].depends_on == ["agents/prod-dc"]  # covered by its agent's alert
    assert checks["paas/api"].depends_on == []  # judged from two places: one agent's silence is not its outage
    assert checks["agents/prod-dc"].silent_after == 15.0 and checks["agents/test-dc"].silent_after == 60.0
    with pytest.raises(ConfigError) as error:
        parse_config(AGENTS + "checks:\n  - {name: a, component: c, kind: tcp, host: h, port: 1, location: prod}\n")
    assert error.value.errors == ["(top level): checks[0] (c/a).location: no agent named 'prod' (did you mean "
                                  "'prod-dc'?): the locations are prod-dc, test-dc, central (agents: lists the agents)"]
    for wrong, message in [
        ("location: prod-dc, locations: [central]", "give either location"),
        ("locations: [central, central]", "a location is named twice"),
        ("locations: [central], quorum: 2", "quorum 2 is more than the 1 location(s)"),
    ]:
        with pytest.raises(ConfigError) as error:
            parse_config(AGENTS + f"checks:\n  - {{name: a, component: c, kind: tcp, host: h, port: 1, {wrong}}}\n")
        assert message in error.value.errors[0], error.value.errors
    with pytest.raises(ConfigError) as error:
        parse_config("agents:\n  - {name: central, token: 0123456789abcdefXYZ}\n")
    assert "'central' is the service's own location" in error.value.errors[0]
    with pytest.raises(ConfigError) as error:
        parse_config("agents:\n  - {name: a, token: 0123456789abcdefXYZ, token_sha256: '" + "0" * 64 + "'}\n")
    assert "exactly one of token" in error.value.errors[0]
    with pytest.raises(ConfigError) as error:
        parse_config("checks:\n  - {name: a, component: agents, kind: agent, agent: x}\n")
    assert "'agent' is not a kind of check" in error.value.errors[0]
