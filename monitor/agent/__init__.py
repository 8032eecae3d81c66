"""The `platform-monitor agent` process (docs/agents.md): runs the checks the centre assigns to
its location, keeps their results in a file and pushes them. Needs no database, opens no port
but its optional own /healthz, /readyz, /metrics."""

from monitor.agent.options import AgentOptions, OptionError, agent_options
from monitor.agent.service import Agent

__all__ = ["Agent", "AgentOptions", "OptionError", "agent_options"]
