// A check: state, last result and settings (live), 90-day uptime, latency with percentile bands
// and state timeline over a chosen range, recent results with reasons, incidents it was part of.
import { AsOfClock } from "../lib/asof.js";
import { fmtDuration, fmtLatency, fmtTime, h, replace, setBadge, since } from "../lib/dom.js";
import { incidentsBetween, liveCheckState } from "../lib/api.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { RangePicker } from "../lib/range.js";
import { loadLatency, loadTimeline } from "../widgets/charts.js";
import { renderIncidents } from "../widgets/incidents.js";
import { RecentResults } from "../widgets/results.js";
import { loadMaintenance } from "../widgets/maintenance.js";
import { UptimeBars } from "../widgets/uptime.js";

const REFRESH_MS = refreshMs(5000);
const HISTORY_REFRESH_MS = 60000;
const byId = (id) => document.getElementById(id);
const main = byId("main");
const id = main.dataset.check;
const component = main.dataset.component;
const retired = main.dataset.retired === "true";
const clock = new AsOfClock();

function fact(label, value, title = null, wide = false) {
  return h("div", { class: wide ? "wide" : null }, h("dt", null, label), h("dd", { title }, value));
}

async function refreshState() {
  const data = await liveCheckState(id);
  const { check } = data;
  const now = Date.parse(data.as_of);
  setBadge(byId("state"), check.status);
  replace(byId("facts"),
    fact("State", `${check.status} ${check.since ? since(check.since, now) : ""}`, check.since ? `${fmtTime(check.since)} UTC` : null),
    fact("Since (UTC)", fmtTime(check.since)),
    fact("Last run (UTC)", fmtTime(check.last_run)),
    fact("Last latency", fmtLatency(check.latency)),
    fact("Reason", check.reason || "—", null, true));
  renderLocations(data, now);
  clock.set(data.as_of);
  if (!settingsShown) {
    byId("settings").textContent = JSON.stringify(data.settings, null, 2);
    byId("settings-box").classList.remove("hidden");
    settingsShown = true;
  }
}
let settingsShown = false;

// Where the check runs (docs/agents.md): one row per location with its latest result; shown when
// an agent runs it or several locations judge it by quorum.
function renderLocations(data, now) {
  const remote = data.sites.length > 1 || data.sites[0] !== "central";
  byId("locations-panel").classList.toggle("hidden", !remote);
  if (!remote) return;
  byId("quorum").textContent = data.sites.length > 1
    ? `down when ${data.quorum} of ${data.sites.length} locations see it down`
    : `run by the agent at ${data.sites[0]}`;
  const rows = data.byLocation.map((entry) => {
    const last = entry.last_result;
    const badge = h("span", { class: "badge" }, last ? last.status : "no result");
    setBadge(badge, last ? last.status : "unknown");
    return h("tr", { dataset: { location: entry.location } },
      h("th", { scope: "row" }, entry.location === "central" ? "central (this service)" : entry.location),
      h("td", null, badge),
      h("td", { title: last ? `${fmtTime(last.time)} UTC` : null },
        last ? `${fmtDuration(Math.max(0, (now - Date.parse(last.time)) / 1000))} ago` : "—"),
      h("td", null, last ? fmtLatency(last.latency) : "—"),
      h("td", { class: "reason" }, last && last.reason ? last.reason : "—"));
  });
  replace(byId("locations"),
    h("thead", null, h("tr", null, ["Location", "Latest", "When", "Latency", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, rows));
}

const uptime = new UptimeBars({ kind: "check", names: [id] });
uptime.attach(id, byId("uptime"), byId("uptime-total"));

const range = new RangePicker(byId("range"), { onChange: () => history_.now() });
const history_ = new Poller(async () => {
  const { from, to } = range.get();
  const results = await Promise.allSettled([
    loadLatency(byId("latency"), byId("latency-note"), { check: id, from, to }),
    loadTimeline(byId("timeline"), { check: id, from, to }),
    incidentsBetween(from, to, { component }).then(
      (data) => renderIncidents(byId("incidents"), data.incidents.filter((i) => i.checks.includes(id)),
        { empty: "This check was not part of any incident in this range." }),
      (err) => { replace(byId("incidents"), h("p", { class: "error" }, err.message)); throw err; }),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}, HISTORY_REFRESH_MS, () => {});

if (retired) {
  byId("facts-panel").classList.add("hidden");
  replace(byId("results"), h("p", { class: "empty" }, "Removed from the config: its raw results are no longer served."));
  byId("asof").classList.add("hidden");
} else {
  new Poller(refreshState, REFRESH_MS, () => clock.fail()).start();
  const results = new RecentResults(byId("results"), byId("results-count"), id);
  new Poller(() => results.load(), REFRESH_MS, () => {}).start();
}
new Poller(() => uptime.load(), 300000, () => {}).start();
history_.start();
new Poller(() => loadMaintenance(byId("maintenance"), { check: id }), 60000, () => {}).start();
