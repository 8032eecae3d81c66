// Processes: who shares the database, the shards each holds, its last renewal; refreshed in place.
import { AsOfClock } from "../lib/asof.js";
import { agentsNow, processesNow } from "../lib/api.js";
import { fmtDuration, fmtTime, h, replace, setBadge } from "../lib/dom.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { ProcessTable } from "../widgets/processes.js";

const REFRESH_MS = refreshMs(5000); // the answering process's memory: cheap
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const processes = new ProcessTable({
  table: byId("processes"), count: byId("processes-count"), note: byId("processes-note"),
  unheld: byId("unheld"), problem: byId("problem"),
});

new Poller(async () => {
  const data = await processesNow();
  processes.update(data);
  clock.set(data.as_of);
}, REFRESH_MS, (err) => {
  processes.fail(err);
  clock.fail();
}).start();

// Agents: one row each, its check's state and what it last said of itself.
function agentRow(agent, now) {
  const badge = h("span", { class: "badge" });
  setBadge(badge, agent.state);
  const seen = agent.last_seen ? `${fmtDuration(Math.max(0, (now - Date.parse(agent.last_seen)) / 1000))} ago` : "never";
  const offset = agent.clock_offset === null ? "—" : `${agent.clock_offset >= 0 ? "+" : ""}${agent.clock_offset.toFixed(3)} s`;
  return h("tr", { dataset: { agent: agent.name } },
    h("th", { scope: "row" }, h("a", { href: `/checks/${agent.check}` }, agent.name)),
    h("td", null, badge, " ", agent.reason || ""),
    h("td", { title: agent.last_seen ? `${fmtTime(agent.last_seen)} UTC` : null }, seen),
    h("td", null, agent.address || "—"),
    h("td", null, String(agent.checks)),
    h("td", null, offset),
    h("td", null, `${agent.buffered.toLocaleString("en")} waiting, ${agent.dropped.toLocaleString("en")} dropped`),
    h("td", null, agent.results.toLocaleString("en")),
    h("td", { title: agent.config_version === agent.current_version ? "runs the current assignment"
      : `runs ${agent.config_version || "nothing yet"}; current ${agent.current_version}` },
      agent.agent_version || "—", agent.config_version && agent.config_version !== agent.current_version ? " (stale)" : ""));
}

new Poller(async () => {
  const { as_of: asOf, agents } = await agentsNow();
  byId("agents-panel").classList.toggle("hidden", agents.length === 0);
  byId("agents-count").textContent = `${agents.length} configured`;
  const now = Date.parse(asOf);
  replace(byId("agents"),
    h("thead", null, h("tr", null, ["Agent", "State", "Last heard", "From", "Checks", "Clock offset", "Buffer",
      "Results", "Version"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, agents.map((a) => agentRow(a, now))));
}, REFRESH_MS, () => {}).start();
