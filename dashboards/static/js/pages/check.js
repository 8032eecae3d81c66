// A check: state, last result and settings (live), 90-day uptime, latency with percentile bands
// and state timeline over a chosen range, recent results with reasons, incidents it was part of.
import { AsOfClock } from "../lib/asof.js";
import { fmtDuration, fmtLatency, fmtTime, fmtZoned, h, replace, setBadge, since, stateLabel } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { incidentsBetween, liveCheckState } from "../lib/api.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { fitPreset, RangePicker } from "../lib/range.js";
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
    fact(t("State"), `${stateLabel(check.status)} ${check.since ? since(check.since, now) : ""}`,
      check.since ? fmtZoned(check.since) : null),
    fact(t("Since"), fmtTime(check.since)),
    fact(t("Last run"), fmtTime(check.last_run)),
    fact(t("Last latency"), fmtLatency(check.latency)),
    fact(t("Reason"), check.reason || "—", null, true));
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
    ? t("down when {quorum} of {count} locations see it down", { quorum: data.quorum, count: data.sites.length })
    : t("run by the agent at {location}", { location: data.sites[0] });
  const rows = data.byLocation.map((entry) => {
    const last = entry.last_result;
    const badge = h("span", { class: "badge" });
    setBadge(badge, last ? last.status : "unknown", last ? undefined : t("no result"));
    return h("tr", { dataset: { location: entry.location } },
      h("th", { scope: "row" }, entry.location === "central" ? t("central (this service)") : entry.location),
      h("td", null, badge),
      h("td", { title: last ? fmtZoned(last.time) : null },
        last ? t("{duration} ago", { duration: fmtDuration(Math.max(0, (now - Date.parse(last.time)) / 1000)) }) : "—"),
      h("td", null, last ? fmtLatency(last.latency) : "—"),
      h("td", { class: "reason" }, last && last.reason ? last.reason : "—"));
  });
  replace(byId("locations"),
    h("thead", null, h("tr", null, [t("Location"), t("Latest"), t("When"), t("Latency"), t("Reason")].map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", null, rows));
}

const uptime = new UptimeBars({ kind: "check", names: [id] });
uptime.attach(id, byId("uptime"), byId("uptime-total"));

// The timelines open on a range chosen from the data: the current state's start well in view.
const first = retired ? null : await liveCheckState(id).catch(() => null);
const range = new RangePicker(byId("range"), {
  initial: (first && fitPreset(Date.parse(first.check.since), Date.parse(first.as_of))) || "24h",
  onChange: () => history_.now(),
});
const history_ = new Poller(async () => {
  const { from, to } = range.get();
  const results = await Promise.allSettled([
    loadLatency(byId("latency"), byId("latency-note"), { check: id, from, to }),
    loadTimeline(byId("timeline"), { check: id, from, to }),
    incidentsBetween(from, to, { component }).then(
      (data) => renderIncidents(byId("incidents"), data.incidents.filter((i) => i.checks.includes(id)),
        { empty: t("This check was not part of any incident in this range.") }),
      (err) => { replace(byId("incidents"), h("p", { class: "error" }, err.message)); throw err; }),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}, HISTORY_REFRESH_MS, () => {});

if (retired) {
  byId("facts-panel").classList.add("hidden");
  replace(byId("results"), h("p", { class: "empty" }, t("Removed from the config: its raw results are no longer served.")));
  byId("asof").classList.add("hidden");
} else {
  new Poller(refreshState, REFRESH_MS, () => clock.fail()).start();
  const results = new RecentResults(byId("results"), byId("results-count"), id);
  new Poller(() => results.load(), REFRESH_MS, () => {}).start();
}
new Poller(() => uptime.load(), 300000, () => {}).start();
history_.start();
new Poller(() => loadMaintenance(byId("maintenance"), { check: id }), 60000, () => {}).start();
