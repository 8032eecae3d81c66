// A component: state and counts (live), 90-day uptime, its checks (live), latency and state
// timeline over a chosen range, incidents in the range.
import { AsOfClock } from "../lib/asof.js";
import { h, replace, setBadge, since, stateLabel } from "../lib/dom.js";
import { t, tn } from "../lib/i18n.js";
import { incidentsBetween, liveState } from "../lib/api.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { fitPreset, RangePicker } from "../lib/range.js";
import { loadLatency, loadTimeline } from "../widgets/charts.js";
import { CheckRows } from "../widgets/checkrows.js";
import { renderIncidents } from "../widgets/incidents.js";
import { loadMaintenance } from "../widgets/maintenance.js";
import { UptimeBars } from "../widgets/uptime.js";

const REFRESH_MS = refreshMs(5000);
const HISTORY_REFRESH_MS = 60000; // a relative range slides with the clock
const byId = (id) => document.getElementById(id);
const name = document.getElementById("main").dataset.component;
const clock = new AsOfClock();
const rows = new CheckRows();
byId("checks").append(rows.el);

const uptime = new UptimeBars({ kind: "component", names: [name] });
uptime.attach(name, byId("uptime"), byId("uptime-total"));

async function refreshState() {
  const data = await liveState({ component: name });
  const comp = data.components[0];
  if (comp) {
    setBadge(byId("state"), comp.status);
    byId("state-since").textContent = comp.since ? since(comp.since, Date.parse(data.as_of)) : "";
    byId("state-counts").textContent = Object.entries(comp.counts).map(([s, n]) => `${n} ${stateLabel(s)}`).join(" · ");
  } else {
    setBadge(byId("state"), "nodata", t("not configured now"));
  }
  rows.update(data.checks, Date.parse(data.as_of));
  byId("checks-count").textContent = tn("{n} check", "{n} checks", data.checks.length);
  clock.set(data.as_of);
}

// The timelines open on a range chosen from the data: the current state's start well in view.
const first = await liveState({ component: name }).catch(() => null);
const firstSince = first && first.components[0] ? Date.parse(first.components[0].since) : null;
const range = new RangePicker(byId("range"), {
  initial: (first && fitPreset(firstSince, Date.parse(first.as_of))) || "24h",
  onChange: () => history_.now(),
});
const history_ = new Poller(async () => {
  const { from, to } = range.get();
  const results = await Promise.allSettled([
    loadLatency(byId("latency"), byId("latency-note"), { component: name, from, to }),
    loadTimeline(byId("timeline"), { component: name, from, to }, null, byId("timeline-note")),
    incidentsBetween(from, to, { component: name })
      .then((data) => renderIncidents(byId("incidents"), data.incidents),
        (err) => { replace(byId("incidents"), h("p", { class: "error" }, err.message)); throw err; }),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}, HISTORY_REFRESH_MS, () => {});

new Poller(refreshState, REFRESH_MS, () => clock.fail()).start();
new Poller(() => uptime.load(), 300000, () => {}).start();
history_.start();
new Poller(() => loadMaintenance(byId("maintenance"), { component: name }), 60000, () => {}).start();
