// Processes: who shares the database, the shards each holds, its last renewal; refreshed in place.
import { AsOfClock } from "../lib/asof.js";
import { agentsNow, processesNow } from "../lib/api.js";
import { fmtDuration, fmtZoned, h, replace, setBadge } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
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
  const seen = agent.last_seen
    ? t("{duration} ago", { duration: fmtDuration(Math.max(0, (now - Date.parse(agent.last_seen)) / 1000)) }) : t("never");
  const offset = agent.clock_offset === null ? "—" : `${agent.clock_offset >= 0 ? "+" : ""}${agent.clock_offset.toFixed(3)} s`;
  return h("tr", { dataset: { agent: agent.name } },
    h("th", { scope: "row" }, h("a", { href: `/checks/${agent.check}` }, agent.name)),
    h("td", null, badge, " ", agent.reason || ""),
    h("td", { title: agent.last_seen ? fmtZoned(agent.last_seen) : null }, seen),
    h("td", null, agent.address || "—"),
    h("td", null, String(agent.checks)),
    h("td", null, offset),
    h("td", null, t("{waiting} waiting, {dropped} dropped",
      { waiting: agent.buffered.toLocaleString("en"), dropped: agent.dropped.toLocaleString("en") })),
    h("td", null, agent.results.toLocaleString("en")),
    h("td", { title: agent.config_version === agent.current_version ? t("runs the current assignment")
      : t("runs {version}; current {current}", { version: agent.config_version || "—", current: agent.current_version }) },
      agent.agent_version || "—", agent.config_version && agent.config_version !== agent.current_version ? " " + t("(stale)") : ""));
}

new Poller(async () => {
  const { as_of: asOf, agents } = await agentsNow();
  byId("agents-panel").classList.toggle("hidden", agents.length === 0);
  byId("agents-count").textContent = t("{count} configured", { count: agents.length });
  const now = Date.parse(asOf);
  replace(byId("agents"),
    h("thead", null, h("tr", null, [t("Agent"), t("State"), t("Last heard"), t("From"), t("Checks"), t("Clock offset"),
      t("Buffer"), t("Results"), t("Version")].map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", null, agents.map((a) => agentRow(a, now))));
}, REFRESH_MS, () => {}).start();
