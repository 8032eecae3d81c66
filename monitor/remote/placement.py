"""Where each check runs: the location names a config may use, the check that watches each agent,
the dependency of every check at an agent's location on that agent, and what one location runs.
Pure: no I/O."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from monitor.clusters import ClusterConfig
from monitor.remote.config import AGENTS_COMPONENT, SILENT_AFTER_MIN, AgentConfig, agent_check_id
from probes import agent as agent_probe
from probes.base import CENTRAL, CheckBase

__all__ = ["AGENT_CHECK_INTERVAL", "agent_checks", "depending_on_agents", "location_problems", "runs_at"]

AGENT_CHECK_INTERVAL = 5.0  # seconds between judgements of an agent's last contact
GAP_INTERVALS = 2  # an agent silent for this many intervals of its checks is not reporting (issue 12)


def location_problems(checks: Sequence[CheckBase], clusters: Sequence[ClusterConfig],
                      agents: Sequence[AgentConfig]) -> list[str]:
    """One line per location a check or a cluster names that is neither `central` nor an agent."""
    known = {a.name for a in agents}
    problems = []

    def unknown(name: str) -> str:
        close = difflib.get_close_matches(name, [*sorted(known), CENTRAL], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        choices = ", ".join([*sorted(known), CENTRAL])
        return f"no agent named {name!r}{hint}: the locations are {choices} (agents: lists the agents)"

    for i, check in enumerate(checks):
        field = "locations" if check.locations is not None else "location"
        for j, site in enumerate(check.sites):
            if site != CENTRAL and site not in known:
                place = f"locations[{j}]" if field == "locations" else "location"
                problems.append(f"checks[{i}] ({check.id}).{place}: {unknown(site)}")
    for i, cluster in enumerate(clusters):
        if cluster.location not in (None, CENTRAL) and cluster.location not in known:
            problems.append(f"clusters[{i}] ({cluster.name}).location: {unknown(cluster.location)}")
    return problems


def agent_checks(agents: Sequence[AgentConfig], checks: Iterable[CheckBase]) -> list[CheckBase]:
    """The check that watches each agent: silent for two intervals of its quickest check (15 s at
    least) is not reporting."""
    quickest: dict[str, float] = {}
    for check in checks:
        for site in check.sites:
            quickest[site] = min(quickest.get(site, check.interval), check.interval)
    return [
        agent_probe.Check(
            name=a.name, component=AGENTS_COMPONENT, agent=a.name, interval=AGENT_CHECK_INTERVAL,
            timeout=AGENT_CHECK_INTERVAL, failure_threshold=1, success_threshold=1,
            silent_after=max(SILENT_AFTER_MIN, GAP_INTERVALS * quickest.get(a.name, SILENT_AFTER_MIN)),
            max_clock_skew=a.max_clock_skew, buffer=a.buffer,
            description=f"The agent at location {a.name}: reporting, its clock, its buffer",
            labels={"location": a.name},
        )
        for a in agents
    ]


def depending_on_agents(check: CheckBase) -> CheckBase:
    """`check`, depending on the agent that runs it when one agent alone does: while that agent is
    not reporting, its one alert covers the check's."""
    sites = check.sites
    if len(sites) != 1 or sites[0] == CENTRAL:
        return check
    parent = agent_check_id(sites[0])
    if parent in check.depends_on:
        return check
    return check.model_copy(update={"depends_on": [*check.depends_on, parent]})


def runs_at(check: CheckBase, location: str) -> bool:
    return location in check.sites
