"""The centre's side of remote agents (docs/agents.md): who may report (config, tokens), what each
location runs, how pushed results become state (intake) and how several locations make one verdict
(quorum). The agent process itself is monitor.agent."""
